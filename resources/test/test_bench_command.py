"""`egenerator bench` in its quick (CI) mode: every figure lands in one JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _bench(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "egenerator.cli", "bench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_quick_bench_writes_one_json(tmp_path):
    out = tmp_path / "bench.json"
    done = _bench("--only", "bench_simulate", "bench_data", "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "quick"
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["tensorflow"]
    for name in ("bench_simulate", "bench_data"):
        result = report["benchmarks"][name]
        assert result["returncode"] == 0 and result["seconds"] > 0
        assert result["figures"] and result["figures"]["peak_memory_mb"] > 0
    rows = report["benchmarks"]["bench_data"]["figures"]["rows"]
    assert {row["mode"] for row in rows} == {"batches", "tf.data"}
    assert all(row["events_per_s_best"] > 0 for row in rows)
    assert "2/2 benchmarks ran" in done.stdout


def test_unknown_benchmark_is_an_error(tmp_path):
    done = _bench("--only", "bench_nothing", "--json", str(tmp_path / "x.json"), cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown benchmark" in done.stdout and "bench_simulate" in done.stdout
