"""`egenerator demo`: the whole chain at a small scale on the embedded simulator.

simulate training / validation / test files -> trafo -> train the demo config -> export ->
reconstruct the test set with the trained model and with the oracle -> resolution table + plots.
Everything goes under ``--output`` (default ``demo_output/``).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

HELP = "simulate, train, export and reconstruct: the whole chain on a small scale"

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "resources" / "configs"
DEMO_CONFIG_NAME = "cascade_7param_noise_demo.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="demo_output", help="output folder (demo_output)")
    parser.add_argument("--steps", type=int, default=2500, help="training steps (2500)")
    parser.add_argument("--train-events", type=int, default=2000, help="training events (2000)")
    parser.add_argument("--validation-events", type=int, default=256, help="(256)")
    parser.add_argument("--test-events", type=int, default=16, help="test events (16)")
    parser.add_argument(
        "--test-energy-range",
        nargs=2,
        type=float,
        default=[1e3, 1e5],
        metavar=("EMIN", "EMAX"),
        help="energy range of the test events [GeV] (1e3 1e5)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="master seed (2026)")
    parser.add_argument(
        "--config", default=None, help=f"config to train (default: the packaged {DEMO_CONFIG_NAME})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="events per fit batch, model (16)"
    )
    parser.add_argument(
        "--oracle-batch-size",
        type=int,
        default=4,
        help="events per fit batch, oracle (4; its exact time density is memory-hungry)",
    )
    parser.add_argument(
        "--oracle-events",
        type=int,
        default=8,
        help="the oracle fits the first N test events (8; ~15 s each on 2 cores); the table "
        "compares model and oracle on these",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _demo_config(args: argparse.Namespace, out: Path) -> dict:
    """The demo config with every path pointing into the output folder."""
    from ..config.loader import load_config

    source = Path(args.config) if args.config else DEMO_CONFIG / DEMO_CONFIG_NAME
    config = copy.deepcopy(load_config(source))
    data = out / "data"
    iterators = config["data_iterator_settings"]
    iterators["training"]["input_data"] = [str(data / "train_*.hdf5")]
    iterators["trafo"]["input_data"] = [str(data / "train_*.hdf5")]
    iterators["validation"]["input_data"] = [str(data / "validation_*.hdf5")]
    iterators["test"]["input_data"] = [str(data / "test_*.hdf5")]
    config["model_manager_settings"]["config"]["manager_dir"] = str(
        out / "models" / "{unique_name}"
    )
    config["data_trafo_settings"]["model_dir"] = str(out / "trafo" / "{unique_name}")
    config["training_settings"]["num_training_iterations"] = int(args.steps)
    config["seed"] = int(args.seed)
    return config


def _simulate(path: Path, num_events: int, seed: int, detector, progress: bool, **kwargs) -> float:
    from ..io.writer import write_simulation
    from ..sim.sampler import simulate_events

    if path.exists():
        print(f"  {path} exists, kept")
        return 0.0
    start = time.perf_counter()
    events = simulate_events(num_events, seed, detector, **kwargs)
    write_simulation(path, events, detector, progress=progress, total_events=num_events)
    return time.perf_counter() - start


class _Bar:
    """tqdm bar fed with the running event count of the reconstruction driver."""

    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit="event")

    def __call__(self, done: int) -> None:
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _progress_bar(total: int, desc: str, enabled: bool) -> _Bar | None:
    return _Bar(total, desc) if enabled else None


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def _first_events(data: dict, num: int) -> dict:
    """The resolution inputs of the first ``num`` events (arrays and dicts of arrays)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = {k: np.asarray(v)[:num] for k, v in value.items()}
        elif isinstance(value, np.ndarray) and value.ndim >= 1:
            out[key] = value[:num]
        else:
            out[key] = value
    return out


def _better_than_truth(path: Path, reco, setup, test_file: Path, num: int) -> tuple[int, int]:
    """(fits with a loss at most that at the true parameters, successful fits) among the first
    ``num`` events: a fit worse than the truth is a minimiser (or seed) failure, a fit better
    than the truth far from it means the likelihood itself does not tell."""
    import pandas as pd

    from ..data.loader import load_events

    table = pd.read_hdf(path, "EventGenerator").iloc[:num]
    batch = load_events(
        test_file, setup.data_handler_settings, reco.parameter_names, setup.detector
    )
    batch = batch.select(np.arange(min(num, batch.num_events)))
    loss_truth = reco.loss(batch, batch.parameters)
    ok = table["fit_status"].to_numpy() == 0
    better = table["loss_reco"].to_numpy() <= loss_truth + 1e-6
    return int(np.sum(better & ok)), int(np.sum(ok))


def _resolution(
    path: Path, summary_run, plots_dir: Path, label: str, num_events: int | None = None
) -> dict:
    from ..reco.resolution import load_resolution_inputs, make_plots, resolution_summary

    data = load_resolution_inputs(path)
    if num_events is not None:
        data = _first_events(data, num_events)
    summary = resolution_summary(
        data["reco"], data["truth"], success=data["success"], sigma=data.get("sigma")
    )
    summary["seconds_per_event"] = 1.0 / summary_run.events_per_second
    if plots_dir is None:
        return summary
    summary["plots"] = make_plots(
        data["reco"],
        data["truth"],
        plots_dir,
        success=data["success"],
        sigma=data.get("sigma"),
        label=label,
    )
    return summary


def format_comparison(model: dict, oracle: dict, model_all: dict | None = None) -> str:
    """The demo's table: model and oracle side by side on the same events, with model / oracle
    ratios (and the model on every test event where the oracle fitted fewer)."""
    rows = [
        ("events fitted", "num_used", None, "{:.0f}"),
        ("median angular error [deg]", "angular_error_deg", "median", "{:.2f}"),
        ("68% vertex error [m]", "vertex_error_m", "q68", "{:.1f}"),
        ("median vertex error [m]", "vertex_error_m", "median", "{:.1f}"),
        ("energy resolution (log10 E, 68% width)", "log10_energy_ratio", "width68", "{:.3f}"),
        ("time error 68% width [ns]", "time_error_ns", "width68", "{:.1f}"),
        ("seconds per event (seeds: model only)", "seconds_per_event", None, "{:.3f}"),
        ("fits with loss <= loss at the truth", "better_than_truth", None, "{}"),
    ]
    head = f"{'':42} {'model':>10} {'oracle':>10} {'model/oracle':>13}"
    if model_all is not None:
        head += f" {'model, all':>11}"
    lines = [head]

    def cell(summary: dict, key: str, stat: str | None, fmt: str) -> tuple[str, float]:
        value = summary.get(key) if stat is None else summary[key][stat]
        if isinstance(value, (tuple, list)):  # (count, of)
            return f"{value[0]}/{value[1]}", value[0] / value[1] if value[1] else float("nan")
        if value is None:
            return "-", float("nan")
        return fmt.format(value), float(value)

    for title, key, stat, fmt in rows:
        a_text, a = cell(model, key, stat, fmt)
        b_text, b = cell(oracle, key, stat, fmt)
        ratio = a / b if b not in (0, 0.0) else float("nan")
        line = f"{title:42} {a_text:>10} {b_text:>10} {ratio:>13.2f}"
        if model_all is not None:
            line += f" {cell(model_all, key, stat, fmt)[0]:>11}"
        lines.append(line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0."""
    from ..data.trafo_builder import create_trafo_model
    from ..detector import ic86_like
    from ..export.writer import export_model
    from ..reco.driver import model_setup, oracle_setup, reconstruct_files
    from ..reco.reconstructor import Reconstructor
    from ..reco.seeds import SeedCache
    from ..reco.settings import RecoSettings
    from ..train.from_config import train

    progress = not args.no_progress
    out = Path(args.output).resolve()
    (out / "data").mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    detector = ic86_like()
    t_all = time.perf_counter()

    t = _step("1/6 simulate training, validation and test events (embedded simulator)")
    _simulate(out / "data" / "train_0.hdf5", args.train_events, args.seed, detector, progress)
    _simulate(
        out / "data" / "validation_0.hdf5",
        args.validation_events,
        args.seed + 1,
        detector,
        progress,
    )
    _simulate(
        out / "data" / "test_0.hdf5",
        args.test_events,
        args.seed + 2,
        detector,
        progress,
        energy_range_gev=tuple(args.test_energy_range),
    )
    timings["simulate_s"] = time.perf_counter() - t

    config = _demo_config(args, out)
    from ..config.loader import dump_config

    config_path = out / "config.yaml"
    dump_config(config, config_path)
    print(f"  config: {config_path}")

    t = _step("2/6 parameter transformation (trafo)")
    _, trafo_dir = create_trafo_model(config_path, overwrite=True)
    print(f"  trafo: {trafo_dir}")
    timings["trafo_s"] = time.perf_counter() - t

    t = _step(f"3/6 train {args.steps} steps")
    result = train(config_path, overwrite=True, progress=progress)
    print(f"  {result}")
    timings["train_s"] = time.perf_counter() - t

    t = _step("4/6 export")
    export_dir = export_model(config_path, out / "exported_model", overwrite=True)
    print(f"  exported model: {export_dir}")
    timings["export_s"] = time.perf_counter() - t

    test_file = out / "data" / "test_0.hdf5"
    num_oracle = max(1, min(args.oracle_events, args.test_events))
    # both hypotheses start from the same first-guess seeds (made once, with the model)
    seed_cache = SeedCache()
    runs = {}
    setups = (
        ("model", lambda: model_setup(export_dir), args.batch_size),
        ("oracle", oracle_setup, args.oracle_batch_size),
    )
    for label, setup_fn, batch_size in setups:
        t = _step(f"5/6 reconstruct the test events with the {label}")
        setup = setup_fn()
        settings = RecoSettings.from_config(setup.reconstruction_settings)
        reco = Reconstructor(
            setup.source, setup.loss_module, settings=settings, num_doms=detector.num_doms
        )
        warm_s = reco.warm_up()
        reco_path = out / f"reco_{label}.hdf5"
        num = num_oracle if label == "oracle" else args.test_events
        bar = _progress_bar(num, f"reco ({label})", progress)
        run_summary = reconstruct_files(
            setup,
            [test_file],
            reco_path,
            settings=settings,
            batch_size=batch_size,
            covariance=True,
            progress=bar,
            reconstructor=reco,
            seed_cache=seed_cache,
            max_events=num,
        )
        run_summary.warm_up_s = warm_s
        if bar is not None:
            bar.close()
        print(run_summary.text())
        better = _better_than_truth(reco_path, reco, setup, test_file, num_oracle)
        runs[label] = (reco_path, run_summary, better)
        timings[f"reco_{label}_s"] = time.perf_counter() - t

    _step("6/6 resolution on the test events")
    summaries = {}
    for label, (path, run_summary, better) in runs.items():
        summaries[label] = _resolution(
            path, run_summary, out / "plots" / label, label, num_events=num_oracle
        )
        summaries[label]["better_than_truth"] = better
    model_all = None
    if num_oracle < args.test_events:
        path, run_summary, _ = runs["model"]
        model_all = _resolution(path, run_summary, None, "model")
        summaries["model_all_test_events"] = model_all
    table = format_comparison(summaries["model"], summaries["oracle"], model_all)
    table = (
        f"{num_oracle} test events fitted by both (model and oracle from the same first-guess "
        f"seeds){'' if model_all is None else f'; model, all: {args.test_events} events'}\n" + table
    )
    timings["total_s"] = time.perf_counter() - t_all
    with open(out / "demo_summary.json", "w") as handle:
        json.dump({"timings": timings, "resolution": summaries}, handle, indent=2, default=float)
    with open(out / "demo_table.txt", "w") as handle:
        handle.write(table + "\n")
    print()
    print(table)
    print(
        f"\nplots: {out / 'plots'}; exported model: {export_dir}; "
        f"summary: {out / 'demo_summary.json'}; total {timings['total_s'] / 60:.1f} min"
    )
    return 0
