#!/usr/bin/env python3
"""Training speed of the demo and production configs on this machine (CPU unless a GPU is seen).

For each config and each ``jit_compile`` setting, a fresh process trains on simulated events
(the ic86-like detector, the simulator's default energy range) through the normal
``egenerator.train.from_config.train`` path with batch size 32 and reports:

- time to first step [s] (data pipeline start, tracing / XLA compilation, first update),
- steps/s and events/s (mean over the steps after the first, recompilations included),
- median step time [s] (steady state),
- peak resident memory [MiB] of the process.

Usage::

    python resources/benchmarks/bench_train.py            # 400 events, 40 / 12 steps
    python resources/benchmarks/bench_train.py --quick    # 96 events, 8 / 4 steps
    python resources/benchmarks/bench_train.py --json out.json --configs demo
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    "demo": REPO / "resources" / "configs" / "cascade_7param_noise_demo.yaml",
    "production": REPO / "resources" / "configs" / "cascade_7param_noise.yaml",
}


def simulate(folder: Path, events: int, seed: int) -> float:
    """Write ``events`` simulated events on the ic86-like detector; return seconds taken."""
    from egenerator.detector import ic86_like
    from egenerator.io.writer import write_simulation
    from egenerator.sim.sampler import simulate_events

    detector = ic86_like()
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_simulation(folder / "train_0.hdf5", simulate_events(events, seed, detector), detector)
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    """Train once (in this process) and print one JSON line with the figures."""
    import yaml
    from egenerator.train.from_config import train

    raw = yaml.safe_load(Path(CONFIGS[args.config]).read_text())
    raw["unique_name"] = f"bench_{args.config}_{'jit' if args.jit_flag else 'nojit'}"
    raw["training_settings"].update(
        jit_compile=bool(args.jit_flag),
        validation_frequency=10**9,
        evaluation_frequency=10**9,
        save_frequency=10**9,
        num_training_iterations=args.steps,
    )
    iterators = raw["data_iterator_settings"]
    iterators["training"].update(
        input_data=[str(Path(args.data) / "train_*.hdf5")], batch_size=args.batch_size
    )
    iterators["validation"]["input_data"] = []
    raw["model_manager_settings"]["config"]["manager_dir"] = str(
        Path(args.work) / raw["unique_name"]
    )
    result = train(raw, progress=False, base_dir=args.work)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        "RESULT "
        + json.dumps(
            {
                "config": args.config,
                "jit_compile": bool(args.jit_flag),
                "steps": result.steps_run,
                "batch_size": args.batch_size,
                "time_to_first_step_s": result.time_to_first_step_s,
                "steps_per_s": result.steps_per_s,
                "events_per_s": result.events_per_s,
                "median_step_time_s": result.median_step_time_s,
                "peak_memory_mib": peak_mib,
                "final_train_loss": result.final_train_loss,
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few events and steps")
    parser.add_argument("--configs", default="demo,production", help="comma-separated")
    parser.add_argument("--jit", default="both", choices=("both", "on", "off"))
    parser.add_argument("--events", type=int, default=None, help="simulated training events")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (all configs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--jit-flag", dest="jit_flag", type=int, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.child:
        child(args)
        return 0

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {sorted(CONFIGS)}")
    events = args.events or (96 if args.quick else 400)
    default_steps = {"demo": 8, "production": 4} if args.quick else {"demo": 40, "production": 12}
    jit_values = {"both": (0, 1), "on": (1,), "off": (0,)}[args.jit]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        data = Path(tmp) / "data"
        seconds = simulate(data, events, seed=2024)
        print(f"simulated {events} events on ic86_like in {seconds:.1f} s")
        for name in names:
            for jit in jit_values:
                steps = args.steps or default_steps[name]
                command = [
                    sys.executable, __file__, "--child", "--config", name, "--data", str(data),
                    "--work", tmp, "--jit-flag", str(jit), "--steps", str(steps),
                    "--batch-size", str(args.batch_size),
                ]  # fmt: skip
                proc = subprocess.run(command, capture_output=True, text=True)
                lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]  # noqa: E741
                if proc.returncode != 0 or not lines:
                    print(f"{name} jit={jit}: FAILED\n{proc.stderr[-3000:]}")
                    continue
                rows.append(json.loads(lines[-1][len("RESULT ") :]))
    header = (
        f"{'config':<11} {'jit':>4} {'steps':>5} {'first step s':>12} {'steps/s':>8} "
        f"{'events/s':>9} {'median step s':>13} {'peak MiB':>9}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['config']:<11} {str(r['jit_compile']):>4} {r['steps']:>5} "
            f"{r['time_to_first_step_s']:>12.1f} {r['steps_per_s']:>8.2f} "
            f"{r['events_per_s']:>9.1f} {r['median_step_time_s']:>13.3f} "
            f"{r['peak_memory_mib']:>9.0f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"events": events, "runs": rows}, indent=2))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
