"""Likelihood speed: time per likelihood and per likelihood + gradient (7 parameters per event).

Models: the default cascade network (CascadeSource + NoiseSource, float32 network) with the
unbinned time + negative binomial charge terms, and the physics oracle (float64) with the
unbinned time + Poisson charge terms. Events: simulated with the embedded simulator on the full
5160-DOM ic86-like detector (default physics, energies log-uniform in [1 TeV, 1 PeV]), batches of
1, 32 and 256 events (one hypothesis each). Every configuration runs in its own subprocess so
that the peak memory (``resource.getrusage``, max RSS) belongs to it alone. Times are the best
of the repetitions (median also recorded in the JSON rows); "trace s" is the first call of the
likelihood+gradient function (tracing, XLA compilation and one evaluation).

Usage::

    python resources/benchmarks/bench_llh.py            # full table
    python resources/benchmarks/bench_llh.py --quick    # batches 1 and 32, fewer repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("cascade", "oracle")


def simulated_batch(num_events: int, seed: int):
    """EventBatch of ``num_events`` simulated events (true parameters as hypotheses)."""
    import numpy as np
    from egenerator.data.batch import EventBatch
    from egenerator.detector import ic86_like
    from egenerator.sim.sampler import simulate_events

    detector = ic86_like()
    chunks = list(simulate_events(num_events, seed, detector, chunk_size=max(num_events, 1)))
    sim = chunks[0]
    d = detector.num_doms
    dom_charge = np.zeros((num_events, d))
    np.add.at(dom_charge, (sim.pulse_event, sim.pulse_dom), sim.pulse_charge_pe)
    valid = np.ones((num_events, d), dtype=bool)
    valid[:, sim.bad_doms] = False
    batch = EventBatch(
        parameters=sim.parameters,
        pulse_charge_pe=sim.pulse_charge_pe,
        pulse_time_ns=sim.pulse_time_ns,
        pulse_event=sim.pulse_event,
        pulse_dom=sim.pulse_dom,
        dom_charge=dom_charge,
        dom_valid=valid,
        time_window_ns=sim.readout_window_ns,
        window_exclusions_ns=np.zeros((0, 2)),
        window_event=np.zeros(0, dtype=np.int64),
        window_dom=np.zeros(0, dtype=np.int64),
        event_id=np.zeros((num_events, 4), dtype=np.int64),
        weights=np.ones(num_events),
    )
    return detector, batch


def run_single(model_name: str, num_events: int, jit: bool, repeats: int, seed: int) -> dict:
    """Time one configuration in this process; returns a result row."""
    import numpy as np
    import tensorflow as tf
    from egenerator.data.tensors import batch_to_tensors, tensor_signature
    from egenerator.loss.terms import TERMS
    from egenerator.model.multi_source.independent import IndependentMultiSource
    from egenerator.model.source.cascade import CascadeSource
    from egenerator.model.source.noise import NoiseSource
    from egenerator.model.source.oracle import build_oracle

    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    detector, batch = simulated_batch(num_events, seed)
    if model_name == "cascade":
        model = IndependentMultiSource(
            {},
            detector,
            bases={"cascade": CascadeSource({}, detector), "noise": NoiseSource({}, detector)},
        )
        dtype = tf.float32
        terms = (TERMS["unbinned_pulse_time_llh"], TERMS["negative_binomial_charge_pdf"])
    else:
        model = build_oracle(detector)
        dtype = tf.float64
        terms = (TERMS["unbinned_pulse_time_llh"], TERMS["poisson_charge_pdf"])
    tensors = batch_to_tensors(batch, dtype)
    signature = tensor_signature(detector.num_doms, 7, dtype)
    keys = sorted(signature)
    tensors = {k: tensors[k] for k in keys}
    spec = [{k: signature[k] for k in keys}]

    def loss(t):
        results = model(t["parameters"], t, with_nested=False)
        return tf.add_n([term(t, results) for term in terms])  # [B] float64

    def loss_and_gradient(t):
        params = t["parameters"]
        with tf.GradientTape() as tape:
            tape.watch(params)
            value = loss({**t, "parameters": params})
        # gradient of the vector = of its sum: events are independent, so row b is d loss_b / dp_b
        gradient = tape.gradient(value, params)
        if gradient is None:
            raise ValueError("the likelihood does not depend on the parameters")
        return value, gradient

    row = {
        "model": model_name,
        "events": num_events,
        "jit": jit,
        "pulses": int(batch.num_pulses),
    }
    for what, fn in (("llh", loss), ("llh_grad", loss_and_gradient)):
        traced = tf.function(fn, input_signature=spec, jit_compile=jit)
        start = time.perf_counter()
        try:
            out = traced(tensors)
        except (TypeError, ValueError, tf.errors.OpError) as error:
            row[f"{what}_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
            continue
        row[f"{what}_first_call_s"] = time.perf_counter() - start
        for value in out if isinstance(out, tuple) else (out,):
            if not np.all(np.isfinite(value.numpy())):
                row[f"{what}_error"] = "non-finite likelihood or gradient"
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            traced(tensors)
            times.append(time.perf_counter() - start)
        # best of the repetitions: the least disturbed by other processes on a shared machine
        row[f"{what}_ms"] = 1e3 * float(np.min(times))
        row[f"{what}_median_ms"] = 1e3 * float(np.median(times))
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return row


def available_memory_mb() -> float:
    """MemAvailable of /proc/meminfo [MiB] (infinite where it cannot be read)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("inf")


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'model':8} {'xla':>3} {'events':>6} {'pulses':>8} {'llh ms':>9} {'ms/evt':>7} "
        f"{'llh+grad ms':>11} {'ms/evt':>7} {'trace s':>7} {'peak MB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if "error" in r:
            lines.append(
                f"{r['model']:8} {'y' if r['jit'] else 'n':>3} {r['events']:>6}  {r['error']}"
            )
            continue

        def ms(key, r=r):
            return f"{r[key]:9.1f}" if key in r else f"{'n/a':>9}"

        def per(key, r=r):
            return f"{r[key] / r['events']:7.2f}" if key in r else f"{'n/a':>7}"

        trace = r.get("llh_grad_first_call_s")
        lines.append(
            f"{r['model']:8} {'y' if r['jit'] else 'n':>3} {r['events']:>6} {r['pulses']:>8} "
            f"{ms('llh_ms')} {per('llh_ms')} {ms('llh_grad_ms'):>11} {per('llh_grad_ms')} "
            f"{trace if trace is None else f'{trace:7.1f}'!s:>7} {r['peak_rss_mb']:8.0f}"
        )
        for key in ("llh_error", "llh_grad_error"):
            if key in r:
                lines.append(f"    {key}: {r[key]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench_common import add_common_arguments, write_json  # next to this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches 1 and 32, 3 repetitions")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--no-xla", action="store_true", help="skip the jit_compile rows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--single", nargs=3, metavar=("MODEL", "EVENTS", "JIT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--repeats", type=int, default=None)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    if args.single:
        model, events, jit = args.single
        repeats = args.repeats or 5
        row = run_single(model, int(events), jit == "1", repeats, args.seed)
        print("RESULT " + json.dumps(row))
        return 0

    sizes = (1, 32) if args.quick else (1, 32, 256)
    repeats = args.repeats or (3 if args.quick else 5)
    rows = []
    for model in args.models:
        for jit in (False,) if args.no_xla else (False, True):
            for events in sizes:
                command = [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--single",
                    model,
                    str(events),
                    "1" if jit else "0",
                    "--repeats",
                    str(repeats if events < 256 else max(2, repeats // 2)),
                    "--seed",
                    str(args.seed),
                ]
                previous = [
                    r
                    for r in rows
                    if r["model"] == model
                    and r["jit"] == jit
                    and "peak_rss_mb" in r
                    and r["events"] >= 32  # below, the fixed ~0.6 GiB dominates the peak
                ]
                if previous:  # peak memory grows ~linearly with the number of events
                    last = previous[-1]
                    estimate_mb = last["peak_rss_mb"] * events / last["events"]
                    available_mb = available_memory_mb()
                    if estimate_mb > 0.8 * available_mb:
                        rows.append(
                            {
                                "model": model,
                                "jit": jit,
                                "events": events,
                                "error": f"skipped: needs ~{estimate_mb / 1024:.0f} GiB, "
                                f"{available_mb / 1024:.0f} GiB available",
                            }
                        )
                        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
                        continue
                done = subprocess.run(command, capture_output=True, text=True)
                found = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
                if done.returncode != 0 or not found:
                    if done.returncode < 0:
                        message = f"killed by signal {-done.returncode} (out of memory?)"
                    else:
                        lines = [
                            ln
                            for ln in (done.stderr or done.stdout).strip().splitlines()
                            if "oneDNN" not in ln and "absl" not in ln
                        ]
                        message = f"exit {done.returncode}: " + (lines[-1] if lines else "?")
                    rows.append({"model": model, "jit": jit, "events": events, "error": message})
                else:
                    rows.append(json.loads(found[0][len("RESULT ") :]))
                print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    import platform

    import tensorflow as tf

    print()
    print(
        f"CPU, 2 TensorFlow threads; TensorFlow {tf.__version__}, Python "
        f"{platform.python_version()}; 5160 DOMs; gradient w.r.t. the 7 parameters of every event"
    )
    print(format_table(rows))
    write_json(args.json, {"tensorflow": tf.__version__, "num_doms": 5160, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
