"""Reconstruction speed and resolution: an exported model (``--model``) and the oracle.

Events: simulated with the embedded simulator on the model's detector (default: the generated
ic86-like detector), energies log-uniform in ``--energy-range``, written to a temporary hdf5 file
and read back through the event loader. Seeds: the truth shifted by (+8, -6, +8) m, +0.15 rad
zenith, +0.2 rad azimuth, x1.5 energy, +15 ns (one seed per event), so that the timing measures
the minimiser, not the seed search (the first-guess seeding is timed separately).

Figures per hypothesis (model, oracle):

- warm-up [s]: tracing and the first call of the shared graph (at load time);
- first-event latency [s]: one event fitted right after the warm-up;
- events/s batched (all events in one call), one-by-one (the same engine, one event per call)
  and scipy L-BFGS-B one-by-one (the old framework's way, TF gradients);
- covariance [s/event]: reusing the minimiser's Hessians vs evaluating them anew;
- first-guess seeding [s/event] (direction scan with prefits; not with ``--quick``);
- resolution of the batched fits (median angular / vertex error, energy and time widths) and
  the model/oracle ratios. The oracle (~1 min per event on ic86 and 2 cores) fits only the
  first ``--oracle-events`` events; `egenerator demo` compares both on the same test events.

Usage::

    python resources/benchmarks/bench_reco.py --model demo_output/exported_model
    python resources/benchmarks/bench_reco.py --quick          # oracle only if no model
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_common import add_common_arguments, peak_memory_mb, write_json  # noqa: E402

SHIFT = np.array([8.0, -6.0, 8.0, 0.15, 0.2, 0.0, 15.0])


def shifted(truth: np.ndarray) -> np.ndarray:
    seeds = truth + SHIFT
    seeds[:, 5] *= 1.5
    return seeds


def simulate(path: Path, num: int, seed: int, detector, energy_range) -> None:
    from egenerator.io.writer import write_simulation
    from egenerator.sim.sampler import simulate_events

    write_simulation(
        path, simulate_events(num, seed, detector, energy_range_gev=tuple(energy_range)), detector
    )


def bench_one(label: str, setup, path: Path, args) -> dict:
    from egenerator.data.loader import load_events
    from egenerator.reco.reconstructor import Reconstructor
    from egenerator.reco.resolution import resolution_summary
    from egenerator.reco.seeds import FirstGuessSeeder

    reco = Reconstructor(setup.source, setup.loss_module, num_doms=setup.detector.num_doms)
    t = time.perf_counter()
    reco.warm_up()
    warm = time.perf_counter() - t
    batch = load_events(path, setup.data_handler_settings, reco.parameter_names, setup.detector)
    if label == "oracle":
        batch = batch.select(np.arange(min(args.oracle_events, batch.num_events)))
    truth = batch.parameters
    seeds = shifted(truth)
    n = batch.num_events
    fig: dict = {"label": label, "events": n, "pulses_per_event": batch.num_pulses / n}
    fig["warm_up_s"] = warm

    t = time.perf_counter()
    reco.fit(batch.select([0]), seeds[:1])
    fig["first_event_s"] = time.perf_counter() - t

    t = time.perf_counter()
    fit = reco.fit(batch, seeds)
    fig["batched_s"] = time.perf_counter() - t
    fig["batched_events_per_s"] = n / fig["batched_s"]
    fig["iterations_median"] = float(np.median(fit.num_iterations))
    fig["success_fraction"] = float(np.mean(fit.success))

    single = min(args.single, n)
    t = time.perf_counter()
    for i in range(single):
        reco.fit(batch.select([i]), seeds[i : i + 1])
    fig["one_by_one_events_per_s"] = single / (time.perf_counter() - t)

    t = time.perf_counter()
    scipy_fit = reco.fit(batch.select(np.arange(single)), seeds[:single], interface="scipy")
    fig["scipy_one_by_one_events_per_s"] = single / (time.perf_counter() - t)
    fig["scipy_minus_batched_loss_median"] = float(
        np.median(scipy_fit.loss_reco - fit.loss_reco[:single])
    )

    cov = reco.covariance(batch, fit)
    fig["covariance_reused_s_per_event"] = cov.runtime_s / n
    cov_new = reco.covariance(batch, fit, reuse=False)
    fig["covariance_new_s_per_event"] = cov_new.runtime_s / n

    if not args.quick:
        seeder = FirstGuessSeeder(reco, setup.detector)
        t = time.perf_counter()
        seeder.seeds(batch)
        fig["first_guess_s_per_event"] = (time.perf_counter() - t) / n

    kinds = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
    as_dict = {k: fit.parameters[:, i] for i, k in enumerate(kinds)}
    true = {k: truth[:, i] for i, k in enumerate(kinds)}
    sigma = {k: np.sqrt(cov.covariance[:, i, i]) for i, k in enumerate(kinds)}
    summary = resolution_summary(
        as_dict,
        true,
        success=fit.success,
        sigma=sigma,
        circular_unc_rad=cov.circular_uncertainty_rad[:, 0],
    )
    fig["angular_error_median_deg"] = summary["angular_error_deg"]["median"]
    fig["vertex_error_median_m"] = summary["vertex_error_m"]["median"]
    fig["log10_energy_width68"] = summary["log10_energy_ratio"]["width68"]
    fig["time_error_width68_ns"] = summary["time_error_ns"]["width68"]
    fig["angular_pull_median"] = summary.get("angular_pull_median", float("nan"))
    return fig


ROWS = (
    ("pulses / event", "pulses_per_event", "{:.0f}"),
    ("warm-up [s]", "warm_up_s", "{:.1f}"),
    ("first event [s]", "first_event_s", "{:.2f}"),
    ("batched [events/s]", "batched_events_per_s", "{:.2f}"),
    ("one-by-one [events/s]", "one_by_one_events_per_s", "{:.2f}"),
    ("scipy L-BFGS-B 1-by-1 [events/s]", "scipy_one_by_one_events_per_s", "{:.2f}"),
    ("scipy - batched loss (median)", "scipy_minus_batched_loss_median", "{:+.3f}"),
    ("Newton iterations (median)", "iterations_median", "{:.0f}"),
    ("success fraction", "success_fraction", "{:.2f}"),
    ("covariance reused [s/event]", "covariance_reused_s_per_event", "{:.4f}"),
    ("covariance new [s/event]", "covariance_new_s_per_event", "{:.3f}"),
    ("first-guess seeds [s/event]", "first_guess_s_per_event", "{:.2f}"),
    ("angular error median [deg]", "angular_error_median_deg", "{:.2f}"),
    ("vertex error median [m]", "vertex_error_median_m", "{:.2f}"),
    ("log10 E ratio 68% half-width", "log10_energy_width68", "{:.3f}"),
    ("time error 68% half-width [ns]", "time_error_width68_ns", "{:.2f}"),
    ("angular error / circular_unc (median)", "angular_pull_median", "{:.2f}"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="exported model folder (skipped if absent)")
    parser.add_argument("--events", type=int, default=None, help="events (16; --quick: 4)")
    parser.add_argument(
        "--oracle-events",
        type=int,
        default=None,
        help="the oracle fits only the first N of them (4; --quick: 2): ~1 min/event on 2 cores",
    )
    parser.add_argument("--single", type=int, default=None, help="one-by-one events (4; quick 2)")
    parser.add_argument("--energy-range", nargs=2, type=float, default=[1e3, 1e5])
    parser.add_argument("--seed", type=int, default=3)
    add_common_arguments(parser, "4 events, 2 one by one, no first-guess timing")
    args = parser.parse_args()
    args.events = args.events or (4 if args.quick else 16)
    args.single = args.single or (2 if args.quick else 4)
    args.oracle_events = min(args.oracle_events or (2 if args.quick else 4), args.events)

    from egenerator.detector import ic86_like
    from egenerator.reco.driver import model_setup, oracle_setup

    setups = []
    detector = ic86_like()
    if args.model and Path(args.model, "export.yaml").is_file():
        model = model_setup(args.model)
        detector = model.detector
        setups.append(("model", model))
    elif args.model:
        print(f"model {args.model} not found: skipped")
    setups.append(("oracle", oracle_setup(detector)))

    figures = {
        "events": args.events,
        "oracle_events": args.oracle_events,
        "energy_range_gev": args.energy_range,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.hdf5"
        simulate(path, args.events, args.seed, detector, args.energy_range)
        for label, setup in setups:
            print(f"[{label}] ...", flush=True)
            figures["rows"].append(bench_one(label, setup, path, args))

    rows = figures["rows"]
    print(
        f"\n{args.events} events ({args.oracle_events} for the oracle), {detector.num_doms} DOMs, "
        f"E in {args.energy_range} GeV"
    )
    print(f"{'':40}" + "".join(f"{r['label']:>12}" for r in rows))
    for title, key, fmt in ROWS:
        cells = "".join(f"{fmt.format(r[key]) if key in r else '-':>12}" for r in rows)
        print(f"{title:40}{cells}")
    if len(rows) == 2:
        model, oracle = rows
        ratios = {
            key: model[key] / oracle[key]
            for key in ("angular_error_median_deg", "vertex_error_median_m", "log10_energy_width68")
            if oracle.get(key)
        }
        figures["model_over_oracle"] = ratios
        print(
            "model / oracle (the oracle on its first events only; the demo compares both on the "
            "same events): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        )
    print(f"peak memory {peak_memory_mb():.0f} MB")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
