"""Resolution of reconstructed cascades against the truth: numbers, tables and plots.

Quantities per event (reconstructed vs true):

- angular error [deg]: the angle between the two directions;
- vertex error [m]: the distance between the two vertices;
- log10 energy ratio: log10(E_reco / E_true);
- time error [ns]: t_reco - t_true.

For positive quantities the summary gives the median and the 68 % quantile; for signed ones the
median and half the central 68 % interval ((q84 - q16) / 2). Pulls ``(reco - true) / sigma`` use
the covariance table (energy as ln E, azimuth difference wrapped to (-pi, pi]); a well calibrated
pull has mean 0 and width 1. The angular pull ``angular error / circular_unc`` of a 2-d Gaussian
follows a Rayleigh distribution with median sqrt(2 ln 2) = 1.18.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..data.event_matching import lookup
from ..io.reader import HdfwriterFile
from .seeds import seed_columns

KINDS = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
DEFAULT_ENERGY_BINS_GEV = (1e2, 1e3, 1e4, 1e5, 1e6, 1e7)
_ID_COLUMNS = ("Run", "Event", "SubEvent", "SubEventStream")
RAYLEIGH_MEDIAN = float(np.sqrt(2.0 * np.log(2.0)))


class ResolutionError(ValueError):
    """The output file lacks a table or column the resolution needs (message names them)."""


def _unit(zenith, azimuth) -> np.ndarray:
    zenith, azimuth = np.asarray(zenith), np.asarray(azimuth)
    s = np.sin(zenith)
    return np.stack([s * np.cos(azimuth), s * np.sin(azimuth), np.cos(zenith)], axis=-1)


def angular_error_deg(zen_a, az_a, zen_b, az_b) -> np.ndarray:
    """Angle [deg] between directions a and b (numerically stable atan2 form)."""
    a, b = _unit(zen_a, az_a), _unit(zen_b, az_b)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.arctan2(cross, dot))


def wrap_angle(delta: np.ndarray) -> np.ndarray:
    """Angle differences wrapped to (-pi, pi]."""
    return np.pi - np.mod(np.pi - np.asarray(delta), 2.0 * np.pi)


def errors(reco: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]) -> dict:
    """Per-event errors (arrays): angular_error_deg, vertex_error_m, log10_energy_ratio,
    time_error_ns."""
    r = {k: np.asarray(reco[k], dtype=np.float64) for k in KINDS}
    t = {k: np.asarray(truth[k], dtype=np.float64) for k in KINDS}
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "angular_error_deg": angular_error_deg(
                r["zenith"], r["azimuth"], t["zenith"], t["azimuth"]
            ),
            "vertex_error_m": np.sqrt(
                (r["x"] - t["x"]) ** 2 + (r["y"] - t["y"]) ** 2 + (r["z"] - t["z"]) ** 2
            ),
            "log10_energy_ratio": np.log10(r["energy"] / t["energy"]),
            "time_error_ns": r["time"] - t["time"],
        }


def _stats(values: np.ndarray, signed: bool) -> dict:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "median": np.nan, "q68": np.nan}
    out = {"n": int(v.size), "median": float(np.median(v))}
    if signed:
        q16, q84 = np.quantile(v, [0.16, 0.84])
        out["width68"] = float((q84 - q16) / 2.0)
        out["q68"] = float(np.quantile(np.abs(v), 0.68))
    else:
        out["q68"] = float(np.quantile(v, 0.68))
    return out


_SIGNED = {
    "angular_error_deg": False,
    "vertex_error_m": False,
    "log10_energy_ratio": True,
    "time_error_ns": True,
}


def pulls(
    reco: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    sigma: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Pull arrays per kind present in ``sigma`` (``energy`` sigma is that of ln E)."""
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for kind, s in sigma.items():
            s = np.asarray(s, dtype=np.float64)
            if kind == "energy":
                diff = np.log(np.asarray(reco["energy"]) / np.asarray(truth["energy"]))
            elif kind == "azimuth":
                diff = wrap_angle(np.asarray(reco["azimuth"]) - np.asarray(truth["azimuth"]))
            else:
                diff = np.asarray(reco[kind]) - np.asarray(truth[kind])
            out[kind] = np.where(s > 0, diff / s, np.nan)
    return out


def resolution_summary(
    reco: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    *,
    success: np.ndarray | None = None,
    sigma: Mapping[str, np.ndarray] | None = None,
    circular_unc_rad: np.ndarray | None = None,
    energy_bins_gev: Sequence[float] = DEFAULT_ENERGY_BINS_GEV,
) -> dict:
    """Resolution numbers of reconstructed vs true cascades.

    Parameters
    ----------
    reco, truth : mapping kind -> [E] array
        x, y, z [m], zenith, azimuth [rad], energy [GeV], time [ns].
    success : [E] bool, optional
        Events to use (default: all with finite values).
    sigma : mapping kind -> [E], optional
        Standard deviations from the covariance (``energy``: of ln E) for pulls.
    circular_unc_rad : [E], optional
        Circularised angular uncertainty for the angular pull.
    energy_bins_gev : sequence of float
        Edges of the true-energy bins.

    Returns
    -------
    dict
        ``num_events``, ``num_used``, one entry per quantity (``median``, ``q68``, signed ones
        also ``width68``), ``bins`` (a list of the same per true-energy bin with ``energy_low``,
        ``energy_high``), and when given ``pulls`` (per kind ``mean``, ``std``, ``median``,
        ``width68``) and ``angular_pull_median`` (expect 1.18).
    """
    err = errors(reco, truth)
    n = len(err["vertex_error_m"])
    use = np.ones(n, dtype=bool) if success is None else np.asarray(success, dtype=bool).copy()
    for values in err.values():
        use &= np.isfinite(values)
    summary: dict = {"num_events": int(n), "num_used": int(use.sum())}
    for key, values in err.items():
        summary[key] = _stats(values[use], _SIGNED[key])
    true_energy = np.asarray(truth["energy"], dtype=np.float64)
    edges = np.asarray(energy_bins_gev, dtype=np.float64)
    bins = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        sel = use & (true_energy >= low) & (true_energy < high)
        entry = {"energy_low": float(low), "energy_high": float(high), "n": int(sel.sum())}
        for key, values in err.items():
            entry[key] = _stats(values[sel], _SIGNED[key])
        bins.append(entry)
    summary["bins"] = bins
    if sigma:
        pull = pulls(reco, truth, sigma)
        summary["pulls"] = {}
        for kind, values in pull.items():
            v = values[use & np.isfinite(values)]
            if v.size:
                q16, q50, q84 = np.quantile(v, [0.16, 0.5, 0.84])
                summary["pulls"][kind] = {
                    "n": int(v.size),
                    "mean": float(np.mean(v)),
                    "std": float(np.std(v)),
                    "median": float(q50),
                    "width68": float((q84 - q16) / 2.0),
                }
    if circular_unc_rad is not None:
        ratio = np.radians(err["angular_error_deg"]) / np.asarray(circular_unc_rad)
        ok = use & np.isfinite(ratio)
        summary["angular_pull_median"] = float(np.median(ratio[ok])) if ok.any() else np.nan
    return summary


def format_summary(summary: Mapping, title: str = "") -> str:
    """A plain-text table of :func:`resolution_summary`."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"events: {summary['num_events']}  used: {summary['num_used']}")
    header = (
        f"{'E_true [GeV]':>20} {'n':>6} {'ang med':>8} {'ang 68%':>8} {'vtx med':>8} "
        f"{'vtx 68%':>8} {'lgE med':>8} {'lgE w68':>8} {'dt med':>8} {'dt w68':>8}"
    )
    lines.append(header)

    def row(label, entry):
        a, v = entry["angular_error_deg"], entry["vertex_error_m"]
        e, t = entry["log10_energy_ratio"], entry["time_error_ns"]
        return (
            f"{label:>20} {entry.get('n', a['n']):>6} {a['median']:8.2f} {a['q68']:8.2f} "
            f"{v['median']:8.2f} {v['q68']:8.2f} {e['median']:8.3f} "
            f"{e.get('width68', np.nan):8.3f} {t['median']:8.2f} {t.get('width68', np.nan):8.2f}"
        )

    for entry in summary["bins"]:
        if entry["n"]:
            lines.append(row(f"{entry['energy_low']:.0e}-{entry['energy_high']:.0e}", entry))
    total = {k: summary[k] for k in _SIGNED}
    total["n"] = summary["num_used"]
    lines.append(row("all", total))
    lines.append("(angles in deg, vertex in m, lgE = log10(E_reco/E_true), dt in ns)")
    if "pulls" in summary:
        lines.append("pulls (reco - true) / sigma:")
        for kind, p in summary["pulls"].items():
            lines.append(
                f"  {kind:>8}: mean {p['mean']:+.3f}  std {p['std']:.3f}  "
                f"median {p['median']:+.3f}  width68 {p['width68']:.3f}  (n={p['n']})"
            )
    if "angular_pull_median" in summary:
        lines.append(
            f"angular error / circular_unc: median {summary['angular_pull_median']:.3f} "
            f"(Rayleigh: {RAYLEIGH_MEDIAN:.3f})"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- reading output files
def _read_kinds(hfile: HdfwriterFile, key: str) -> tuple[np.ndarray, dict]:
    columns = hfile.columns(key)
    mapping = seed_columns(KINDS, columns)
    missing = [k for k, c in zip(KINDS, mapping, strict=True) if c is None]
    if missing:
        raise ResolutionError(
            f"{hfile.path}: table '{key}' has no column for {missing}; columns: {columns}"
        )
    index = hfile.event_index(key)
    table = hfile.read_table(key)
    first = np.asarray(index["start"], dtype=np.int64)
    ok = index["exists"].astype(bool) & (index["stop"] > index["start"])
    ids = np.stack([index[c].astype(np.int64) for c in _ID_COLUMNS], axis=1)[ok]
    values = {
        k: np.asarray(table[c], dtype=np.float64)[first[ok]]
        for k, c in zip(KINDS, mapping, strict=True)
    }
    return ids, values


def load_resolution_inputs(
    path: str | os.PathLike,
    output_key: str = "EventGenerator",
    truth_key: str = "MCCascade",
    truth_path: str | os.PathLike | None = None,
) -> dict:
    """Reconstructed and true values of the events present in both, from the output file.

    Returns a dict with ``reco``, ``truth`` (kind -> [E]), ``event_ids`` [E, 4], ``success``
    [E] bool, ``fit_status`` [E], and where present ``sigma`` (from ``<key>_cov_matrix_cov``)
    and ``circular_unc``.
    """
    path = os.fspath(path)
    with HdfwriterFile(path) as hfile:
        particle_key = f"{output_key}_I3Particle"
        for key in (output_key, particle_key):
            if not hfile.has_table(key):
                raise ResolutionError(
                    f"{path}: table '{key}' not found (output key '{output_key}'?); "
                    f"tables: {hfile.tables}"
                )
        ids, reco = _read_kinds(hfile, particle_key)
        main_index = hfile.event_index(output_key)
        main = hfile.read_table(output_key)
        main_ids = np.stack([main_index[c].astype(np.int64) for c in _ID_COLUMNS], axis=1)
        cov_key = f"{output_key}_cov_matrix_cov"
        cov = hfile.read_table(cov_key) if hfile.has_table(cov_key) else None
        cov_ids = (
            np.stack([hfile.event_index(cov_key)[c].astype(np.int64) for c in _ID_COLUMNS], 1)
            if cov is not None
            else None
        )
        truth_file = HdfwriterFile(truth_path) if truth_path else hfile
        try:
            if not truth_file.has_table(truth_key):
                raise ResolutionError(
                    f"{truth_file.path}: truth table '{truth_key}' not found; tables: "
                    f"{truth_file.tables}"
                )
            truth_ids, truth = _read_kinds(truth_file, truth_key)
        finally:
            if truth_path:
                truth_file.close()
    rows = lookup(truth_ids, ids)
    have = rows >= 0
    out_ids = ids[have]
    reco = {k: v[have] for k, v in reco.items()}
    truth = {k: v[rows[have]] for k, v in truth.items()}
    main_rows = lookup(main_ids, out_ids)
    status = np.asarray(main["fit_status"], dtype=np.float64)[main_rows]
    result = {
        "event_ids": out_ids,
        "reco": reco,
        "truth": truth,
        "fit_status": status.astype(np.int64),
        "success": status == 0,
    }
    names = main.dtype.names
    if "circular_unc" in names:
        result["circular_unc"] = np.asarray(main["circular_unc"])[main_rows]
    if cov is not None:
        cov_rows = lookup(cov_ids, out_ids)
        sigma = {}
        cov_names = cov.dtype.names
        for kind in KINDS:
            diag = [c for c in cov_names if _is_diagonal_of(c, kind)]
            if diag:
                sigma[kind] = np.sqrt(np.asarray(cov[diag[0]], dtype=np.float64)[cov_rows])
        result["sigma"] = sigma
    return result


def _is_diagonal_of(column: str, kind: str) -> bool:
    """Whether ``column`` is ``<p>_<p>`` for a parameter p of this kind (``log_`` allowed)."""
    half, rest = divmod(len(column) - 1, 2)
    if rest != 0 or column[half] != "_":
        return False
    left, right = column[:half], column[half + 1 :]
    if left != right:
        return False
    kinds = {"time": ("time", "t")}.get(kind, (kind,))
    name = left
    return any(name == k or name.endswith("_" + k) for k in kinds)


# ---------------------------------------------------------------------- plots
def make_plots(
    reco: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    directory: str | os.PathLike,
    *,
    success: np.ndarray | None = None,
    sigma: Mapping[str, np.ndarray] | None = None,
    energy_bins_gev: Sequence[float] = DEFAULT_ENERGY_BINS_GEV,
    label: str = "",
) -> list[str]:
    """PNG plots (Agg): angular error vs energy, energy ratio, pulls. Returns the file paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    err = errors(reco, truth)
    use = (
        np.ones(len(err["vertex_error_m"]), dtype=bool)
        if success is None
        else np.asarray(success, bool)
    )
    for v in err.values():
        use = use & np.isfinite(v)
    energy = np.asarray(truth["energy"])[use]
    files = []

    edges = np.asarray(energy_bins_gev, dtype=np.float64)
    centers, med, q68, vmed = [], [], [], []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        sel = (energy >= low) & (energy < high)
        if sel.sum() == 0:
            continue
        centers.append(np.sqrt(low * high))
        med.append(np.median(err["angular_error_deg"][use][sel]))
        q68.append(np.quantile(err["angular_error_deg"][use][sel], 0.68))
        vmed.append(np.median(err["vertex_error_m"][use][sel]))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(energy, err["angular_error_deg"][use], s=4, alpha=0.4, label="events")
    if centers:
        ax.plot(centers, med, "o-", color="C1", label="median")
        ax.plot(centers, q68, "s--", color="C2", label="68 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("true energy [GeV]")
    ax.set_ylabel("angular error [deg]")
    ax.set_title(f"angular error {label}".strip())
    ax.legend()
    fig.tight_layout()
    path = os.path.join(directory, "angular_error_vs_energy.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(path)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(energy, err["log10_energy_ratio"][use], s=4, alpha=0.4)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("true energy [GeV]")
    ax.set_ylabel("log10(E_reco / E_true)")
    ax.set_title(f"energy ratio {label}".strip())
    fig.tight_layout()
    path = os.path.join(directory, "energy_ratio.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(path)

    if sigma:
        pull = pulls(reco, truth, sigma)
        kinds = [k for k in KINDS if k in pull]
        fig, axes = plt.subplots(1, len(kinds), figsize=(2.6 * len(kinds), 2.8), squeeze=False)
        grid = np.linspace(-5, 5, 201)
        for ax, kind in zip(axes[0], kinds, strict=True):
            v = pull[kind][use]
            v = v[np.isfinite(v)]
            ax.hist(np.clip(v, -5, 5), bins=30, range=(-5, 5), density=True, alpha=0.6)
            ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k-", lw=1)
            ax.set_title(kind)
            ax.set_xlabel("pull")
        fig.tight_layout()
        path = os.path.join(directory, "pulls.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(path)
    return files
