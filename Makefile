# egenerator: the two commands that do everything on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STEPS ?= 2500
DEMO_DIR ?= demo_output

.PHONY: demo test test-fast bench lint format clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m egenerator.cli demo --output $(DEMO_DIR) --steps $(DEMO_STEPS)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider resources/test

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" resources/test

bench: $(STAMP)
	$(PY) -m egenerator.cli bench

lint: $(STAMP)
	$(VENV)/bin/ruff check python resources
	$(VENV)/bin/ruff format --check python resources

format: $(STAMP)
	$(VENV)/bin/ruff format python resources
	$(VENV)/bin/ruff check --fix python resources

clean:
	rm -rf $(VENV) build demo_output *.egg-info
