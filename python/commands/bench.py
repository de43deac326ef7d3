"""`egenerator bench`: run the benchmarks of resources/benchmarks, one JSON with every figure.

Each benchmark script runs in its own process (clean memory figures, no shared TF state), with
``--quick`` in fast mode, and writes its figures with ``--json``. The command prints each
script's own table and writes one JSON holding all figures plus machine information.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = "run the benchmarks of resources/benchmarks and print the figures"

BENCH_DIR = Path(__file__).resolve().parents[2] / "resources" / "benchmarks"
#: Benchmarks that also time an exported model (``--model DIR``).
MODEL_BENCHMARKS = ("bench_reco", "bench_icetray_reco")
#: Where `egenerator demo` (make demo) exports its model: the default ``--model``.
DEMO_MODEL = Path("demo_output") / "exported_model"
# The order of a full run: cheap first.
BENCHMARKS = (
    "bench_simulate",
    "bench_data",
    "bench_llh",
    "bench_train",
    "bench_reco",
    "bench_icetray",
    "bench_icetray_reco",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full", action="store_true", help="full runs for people (default: quick smoke runs)"
    )
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help="run only these benchmarks"
    )
    parser.add_argument(
        "--json", default="bench_results.json", help="output JSON (bench_results.json)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    parser.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help=f"exported model for {', '.join(MODEL_BENCHMARKS)} (default: {DEMO_MODEL} when "
        "make demo has made it; else the oracle only)",
    )


def machine_info() -> dict:
    """Where the figures were measured."""
    import numpy
    import tensorflow as tf

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            info["memory_kib"] = int(handle.readline().split()[1])
    except OSError:
        pass
    return info


def run_benchmark(name: str, quick: bool, timeout_s: float, model: str | None = None) -> dict:
    """Run one script; returns its figures (JSON), exit code, seconds and printed text."""
    script = BENCH_DIR / f"{name}.py"
    with tempfile.TemporaryDirectory() as tmp:
        out_json = Path(tmp) / "figures.json"
        cmd = [sys.executable, str(script), "--json", str(out_json)]
        if quick:
            cmd.append("--quick")
        if model is not None and name in MODEL_BENCHMARKS:
            cmd += ["--model", str(model)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as err:
            code, stdout, stderr = -1, err.stdout or "", f"timed out after {timeout_s} s"
        seconds = time.perf_counter() - start
        figures = json.loads(out_json.read_text()) if out_json.exists() else None
    return {
        "returncode": code,
        "seconds": seconds,
        "figures": figures,
        "output": stdout if isinstance(stdout, str) else stdout.decode(),
        "stderr_tail": (stderr if isinstance(stderr, str) else stderr.decode())[-2000:],
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks; returns 0 when all ran, 1 otherwise."""
    names = args.only or [n for n in BENCHMARKS if (BENCH_DIR / f"{n}.py").exists()]
    unknown = [n for n in names if not (BENCH_DIR / f"{n}.py").exists()]
    if unknown:
        print(f"egenerator bench: unknown benchmark(s) {unknown}; available: {list(BENCHMARKS)}")
        return 2
    model = args.model
    if model is None and (DEMO_MODEL / "export.yaml").is_file():
        model = str(DEMO_MODEL.resolve())
    report = {
        "mode": "full" if args.full else "quick",
        "machine": machine_info(),
        "model": model,
        "benchmarks": {},
    }
    failed = []
    for name in names:
        print(f"\n=== {name} ({report['mode']})", flush=True)
        result = run_benchmark(name, quick=not args.full, timeout_s=args.timeout, model=model)
        report["benchmarks"][name] = result
        print(result["output"].rstrip())
        if result["returncode"] != 0:
            failed.append(name)
            print(f"--- {name} failed (exit {result['returncode']}):\n{result['stderr_tail']}")
        print(f"--- {name}: {result['seconds']:.1f} s")
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2, default=str)
    print(f"\nwrote {args.json}; {len(names) - len(failed)}/{len(names)} benchmarks ran")
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0
