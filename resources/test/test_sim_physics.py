"""Physics of the embedded simulator (numpy): light yield, delay density, oracle.

References: PHYSICS.md's numbers, scipy.integrate.quad convolutions, scipy.special.pbdv
(parabolic cylinder functions: the closed form of the convolved Pandel density), closed forms.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from egenerator.detector import DetectorTable
from egenerator.sim import light, oracle, timing
from egenerator.sim.physics import PhysicsConfig, PhysicsConfigError, cherenkov_f
from scipy import integrate, special, stats

CONFIG = PhysicsConfig()


# ----------------------------------------------------------------------------- config
def test_config_defaults_and_validation():
    c = CONFIG
    assert c.readout_window_ns == (0.0, 20000.0)
    assert c.t0_range_ns == (9000.0, 10500.0)
    assert (c.vertex_radius_m, c.vertex_height_m) == (550.0, 1100.0)
    assert c.energy_range_gev == (1e3, 1e6)
    assert c.c_ice_m_per_ns == pytest.approx(0.22103, abs=1e-5)
    assert np.degrees(np.arccos(c.cherenkov_cos_angle)) == pytest.approx(40.7, abs=0.05)
    assert c.pandel_rate_per_ns == pytest.approx(1 / 557 + 0.299792458 / 1.35634 / 98)
    assert c.acceptance_mean == pytest.approx(0.65)
    with pytest.raises(PhysicsConfigError, match="jitter_ns"):
        PhysicsConfig(jitter_ns=0.0)
    with pytest.raises(PhysicsConfigError, match="readout_window_ns"):
        PhysicsConfig(readout_window_ns=(10.0, 0.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.jitter_ns = 3.0  # type: ignore[misc]


def test_cherenkov_profile():
    reference, _ = integrate.quad(
        lambda x: cherenkov_f(x, CONFIG), -1, 1, points=[CONFIG.cherenkov_cos_angle], limit=200
    )
    assert CONFIG.cherenkov_integral == pytest.approx(reference, rel=1e-10)
    assert CONFIG.cherenkov_integral == pytest.approx(0.16077, abs=1e-5)
    peak = light.cherenkov_profile(CONFIG.cherenkov_cos_angle)
    assert peak == pytest.approx(53.1, abs=0.05)
    # mean over the sphere is 1
    mean, _ = integrate.quad(
        lambda x: light.cherenkov_profile(x) / 2, -1, 1, points=[CONFIG.cherenkov_cos_angle]
    )
    assert mean == pytest.approx(1.0, rel=1e-8)


# ----------------------------------------------------------------------------- light
def _cascade_seen_from(unit_to_dom: np.ndarray, cos_psi: float, distance_m: float, energy: float):
    """Parameters [1, 7] and a one-DOM detector with the DOM at ``distance_m`` from the
    emission point along ``unit_to_dom`` and the direction at ``acos(cos_psi)`` from it."""
    v = np.asarray(unit_to_dom, dtype=float)
    v /= np.linalg.norm(v)
    helper = np.array([0.0, 0.0, 1.0]) if abs(v[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    perp = np.cross(v, helper)
    perp /= np.linalg.norm(perp)
    d = cos_psi * v + np.sqrt(1 - cos_psi**2) * perp
    zenith = np.arccos(-d[2])
    azimuth = np.arctan2(-d[1], -d[0])
    dom = np.array([12.0, -30.0, 40.0])
    s = light.shower_max_distance_m(energy, CONFIG)
    vertex = dom - distance_m * v - s * d
    params = np.array([[*vertex, zenith, azimuth, energy, 10000.0]])
    det = DetectorTable(
        string=[1],
        om=[1],
        x=[dom[0]],
        y=[dom[1]],
        z=[dom[2]],
        efficiency=[1.0],
        noise_rate_hz=[500.0],
        dead=[False],
    )
    return params, det


@pytest.mark.parametrize(
    "direction, cos_psi, distance, expected",
    [
        ((1.0, 0.0, 0.0), 0.0, 50.0, 90.7),  # sideways, u = 0
        ((np.sqrt(1 - 0.65**2), 0.0, 0.65), 1 / 1.3195, 50.0, 192.6),  # cone, u = -0.65
        ((0.0, 1.0, 0.0), 0.0, 100.0, 13.8),  # sideways at 100 m
    ],
)
def test_physics_md_values(direction, cos_psi, distance, expected):
    params, det = _cascade_seen_from(np.array(direction), cos_psi, distance, 1e4)
    r, c, u = light.dom_geometry(params, det.positions, CONFIG)
    assert r[0, 0] == pytest.approx(distance, rel=1e-12)
    assert c[0, 0] == pytest.approx(cos_psi, abs=1e-12)
    assert u[0, 0] == pytest.approx(-direction[2] / np.linalg.norm(direction), abs=1e-12)
    mu = light.expected_photoelectrons(params, det, CONFIG)
    assert mu[0, 0] == pytest.approx(expected, abs=0.05)


def test_emission_point_and_direction():
    params = np.array([[1.0, 2.0, 3.0, 0.0, 0.7, 1e4, 0.0], [0, 0, 0, np.pi / 2, 0.0, 1e2, 0]])
    d = light.direction(params[:, 3], params[:, 4])
    np.testing.assert_allclose(d[0], [0, 0, -1], atol=1e-15)  # zenith 0: down-going
    np.testing.assert_allclose(d[1], [-1, 0, 0], atol=1e-15)  # comes from +x
    e = light.emission_point(params, CONFIG)
    np.testing.assert_allclose(e[0], [1, 2, 3 - (0.64 + 0.92 * 4)])
    np.testing.assert_allclose(e[1], [-(0.64 + 0.92 * 2), 0, 0], atol=1e-15)


def test_expected_photoelectrons_brute_force(small_detector):
    rng = np.random.default_rng(4)
    params = np.column_stack(
        [
            rng.uniform(-100, 100, (3, 3)),
            np.arccos(rng.uniform(-1, 1, 3)),
            rng.uniform(0, 2 * np.pi, 3),
            10 ** rng.uniform(3, 6, 3),
            rng.uniform(9000, 10500, 3),
        ]
    )
    mu = light.expected_photoelectrons(params, small_detector, CONFIG)
    f_integral = 0.1607696062699  # quad, see test_cherenkov_profile
    for b in range(3):
        x, y, z, zen, az, energy, _ = params[b]
        d = np.array([-np.sin(zen) * np.cos(az), -np.sin(zen) * np.sin(az), -np.cos(zen)])
        origin = np.array([x, y, z]) + (0.64 + 0.92 * np.log10(energy)) * d
        for i in range(0, small_detector.num_doms, 37):
            pos = small_detector.positions[i]
            r = float(np.linalg.norm(pos - origin))
            cos_psi = float(np.dot(pos - origin, d) / r)
            u = float(-(pos - origin)[2] / r)
            f = max(4.27033 * np.exp(-6.02527 * abs(cos_psi - 1 / 1.3195) ** 0.29887) - 0.00103, 0)
            g = 2 * f / f_integral
            w = np.exp(-r / 12)
            ref = (
                energy
                * 740
                * np.exp(-r / 98)
                / (4 * np.pi * (r * r + 1))
                * ((1 - w) * 0.65 + w * g * (0.3 + 0.7 * (1 - u) / 2))
            )
            assert mu[b, i] == pytest.approx(ref, rel=1e-9)


def test_total_light_of_a_central_cascade(ic86_detector):
    """PHYSICS.md quotes "roughly 500-600 PE per TeV" for a cascade at the centre. On the
    generated geometry the total depends strongly on the closest DOMs (a string passes through
    the origin, DOMs at z = +-8.5 m); this test pins the order of magnitude: hundreds to a few
    thousand PE per TeV at the centre, and a few hundred averaged over the central region."""
    rng = np.random.default_rng(7)
    n = 64
    params = np.zeros((n, 7))
    params[:, 3] = np.arccos(rng.uniform(-1, 1, n))
    params[:, 4] = rng.uniform(0, 2 * np.pi, n)
    params[:, 5] = 1e4
    per_tev = light.expected_photoelectrons(params, ic86_detector, CONFIG).sum(axis=1) / 10.0
    assert 300 < np.median(per_tev) < 3000
    radius = 100 * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    params[:, 0], params[:, 1] = radius * np.cos(phi), radius * np.sin(phi)
    params[:, 2] = rng.uniform(-100, 100, n)
    per_tev = light.expected_photoelectrons(params, ic86_detector, CONFIG).sum(axis=1) / 10.0
    assert 150 < per_tev.mean() < 600


# ----------------------------------------------------------------------------- delays
RHO = CONFIG.pandel_rate_per_ns
SIGMA = CONFIG.jitter_ns


def _quad_pdf(s: float, r: float) -> float:
    """Direct convolution with scipy quad (the Gamma singularity by the 'alg' weight)."""
    k = r / CONFIG.pandel_lambda_m
    lo, hi = max(0.0, s - 14 * SIGMA), s + 14 * SIGMA
    if lo == 0.0:
        value, _ = integrate.quad(
            lambda x: np.exp(-RHO * x) * stats.norm.pdf(s - x, scale=SIGMA),
            0,
            hi,
            weight="alg",
            wvar=(k - 1, 0),
            epsabs=0,
            epsrel=1e-11,
            limit=400,
        )
        return RHO**k / special.gamma(k) * value
    value, _ = integrate.quad(
        lambda x: stats.gamma.pdf(x, k, scale=1 / RHO) * stats.norm.pdf(s - x, scale=SIGMA),
        lo,
        hi,
        epsabs=0,
        epsrel=1e-11,
        limit=400,
        points=[s],
    )
    return value


def _quad_cdf(s: float, r: float) -> float:
    k = r / CONFIG.pandel_lambda_m
    lo, hi = max(0.0, s - 14 * SIGMA), s + 14 * SIGMA
    if lo == 0.0:
        value, _ = integrate.quad(
            lambda x: np.exp(-RHO * x) * stats.norm.cdf((s - x) / SIGMA),
            0,
            hi,
            weight="alg",
            wvar=(k - 1, 0),
            epsabs=0,
            epsrel=1e-11,
            limit=400,
        )
        return RHO**k / special.gamma(k) * value
    value, _ = integrate.quad(
        lambda x: stats.gamma.pdf(x, k, scale=1 / RHO) * stats.norm.cdf((s - x) / SIGMA),
        lo,
        hi,
        epsabs=0,
        epsrel=1e-11,
        limit=400,
        points=[s],
    )
    return special.gammainc(k, RHO * lo) + value


DELAYS = np.concatenate([np.linspace(-20, 30, 26), np.geomspace(31, 5000, 24)])


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("distance", [0.5, 3.0, 33.3, 150.0, 1000.0])
def test_delay_pdf_and_cdf_against_quad(distance):
    pdf = timing.delay_pdf(DELAYS, distance, CONFIG)
    cdf = timing.delay_cdf(DELAYS, distance, CONFIG)
    ref_pdf = np.array([_quad_pdf(s, distance) for s in DELAYS])
    ref_cdf = np.array([_quad_cdf(s, distance) for s in DELAYS])
    relevant = ref_pdf > 1e-6 * ref_pdf.max()
    assert relevant.sum() >= 5
    np.testing.assert_allclose(pdf[relevant], ref_pdf[relevant], rtol=1e-3)
    relevant_cdf = ref_cdf > 1e-6
    np.testing.assert_allclose(cdf[relevant_cdf], ref_cdf[relevant_cdf], rtol=1e-3)
    # in practice the agreement is far better than the requirement
    np.testing.assert_allclose(pdf[relevant], ref_pdf[relevant], rtol=1e-8)


@pytest.mark.parametrize("distance", [0.5, 5.0, 50.0, 300.0, 1000.0])
def test_delay_pdf_against_parabolic_cylinder(distance):
    """p(s) = beta^k / sigma phi(nu) exp(mu^2/4) D_{-k}(-mu): holds in the far tails too."""
    k = distance / CONFIG.pandel_lambda_m
    beta = RHO * SIGMA
    delays = np.concatenate([np.linspace(-27, 19, 24), np.linspace(21, 300, 10)])
    nu = delays / SIGMA
    mu = nu - beta
    d, _ = special.pbdv(-k, -mu)
    ref = k * np.log(beta) - np.log(SIGMA) - nu**2 / 2 - 0.5 * np.log(2 * np.pi) + mu**2 / 4
    ref = ref + np.log(d)
    ok = np.isfinite(ref)
    np.testing.assert_allclose(
        timing.delay_log_pdf(delays, distance, CONFIG)[ok], ref[ok], rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("distance", [0.5, 30.0, 400.0])
def test_delay_density_normalised_and_cdf_consistent(distance):
    f = lambda s: float(timing.delay_pdf(s, distance, CONFIG))  # noqa: E731
    total = sum(
        integrate.quad(f, a, b, limit=200, epsabs=1e-13)[0]
        for a, b in [(-40, 0), (0, 40), (40, 1000), (1000, 6000), (6000, 40000)]
    )
    assert total == pytest.approx(1.0, abs=1e-8)
    for s in (-3.0, 1.0, 25.0, 900.0):
        expected = integrate.quad(f, -40, s, limit=200, epsabs=1e-13)[0]
        assert float(timing.delay_cdf(s, distance, CONFIG)) == pytest.approx(expected, abs=1e-9)


def test_delay_far_tails_finite_and_broadcasting():
    delays = np.array([-1e6, -2e4, -500, -30, 0, 19.99, 20.03, 5e3, 2e4, 1e5, 1e6])
    distances = np.array([0.0, 1e-6, 0.5, 100.0, 1000.0, 5000.0])[:, None]
    log_pdf = timing.delay_log_pdf(delays, distances, CONFIG)
    cdf = timing.delay_cdf(delays, distances, CONFIG)
    assert log_pdf.shape == cdf.shape == (6, 11)
    assert np.all(np.isfinite(log_pdf)) and np.all(np.isfinite(cdf))
    assert np.all((cdf >= 0) & (cdf <= 1))
    assert np.all(np.diff(cdf, axis=1) >= -1e-15)
    # Gaussian far-early tail: log p ~ -s^2 / (2 sigma^2)
    assert log_pdf[2, 0] == pytest.approx(-(1e6**2) / (2 * SIGMA**2), rel=1e-3)
    # no discontinuity at the regime boundary (mu = 10)
    split = (timing.SPLIT_MU + RHO * SIGMA) * SIGMA
    for r in (0.5, 30.0, 300.0):
        a, b = timing.delay_log_pdf(np.array([split - 1e-9, split + 1e-9]), r, CONFIG)
        assert a == pytest.approx(b, abs=1e-7)


# ----------------------------------------------------------------------------- oracle
def _tiny_detector() -> DetectorTable:
    distances = np.array([5.0, 40.0, 120.0])
    n = len(distances)
    return DetectorTable(
        string=np.arange(1, n + 1),
        om=np.ones(n, int),
        x=np.zeros(n),
        y=distances,
        z=np.zeros(n),
        efficiency=np.ones(n),
        noise_rate_hz=np.full(n, 800.0),
        dead=np.zeros(n, bool),
    )


def test_expected_charge_window_and_noise():
    det = _tiny_detector()
    params = np.array([[0, 0, 0, np.pi / 2, 0.2, 2e4, 10000.0], [0, 0, 0, 1.0, 0.2, 2e4, 19900.0]])
    expected = oracle.expected_charge(params, det, CONFIG)
    mu = light.expected_photoelectrons(params, det, CONFIG)
    noise = 800.0 * 1e-9 * 20000.0
    # first event: the whole delay distribution lies inside the window
    np.testing.assert_allclose(expected[0], mu[0] + noise, rtol=1e-9)
    # second event: the window closes 100 ns after t0; the mass by a quad convolution
    r, _, _ = light.dom_geometry(params[1:], det.positions, CONFIG)
    for i in range(det.num_doms):
        geometric = 19900.0 + r[0, i] / CONFIG.c_ice_m_per_ns
        mass = _quad_cdf(20000.0 - geometric, r[0, i]) if 20000.0 > geometric - 30 else 0.0
        assert expected[1, i] == pytest.approx(mu[1, i] * mass + noise, rel=1e-7, abs=1e-12)
    assert oracle.mean_spe_charge(CONFIG) == pytest.approx(
        stats.truncnorm.mean((0.25 - 1) / 0.3, np.inf, loc=1, scale=0.3)
    )


def test_time_pdf_normalised_and_cdf():
    det = _tiny_detector()
    params = np.array([[0, 0, 0, np.pi / 2, 0.2, 3e3, 10000.0]])
    for dom in range(det.num_doms):

        def pdf(t, dom=dom):
            t = np.atleast_1d(t)
            return float(oracle.time_pdf(t, np.zeros(1, int), np.full(1, dom), params, det)[0])

        edges = [0, 9990, 10000, 10100, 11000, 14000, 20000]
        pieces = [
            integrate.quad(pdf, a, b, limit=200)[0]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        assert sum(pieces) == pytest.approx(1.0, abs=1e-7)
        t = np.array([5000.0, 10050.0, 10400.0, 15000.0])
        cdf = oracle.time_cdf(t, np.zeros(4, int), np.full(4, dom), params, det)
        expected = np.cumsum(
            [
                integrate.quad(pdf, a, b, limit=200, points=[10000, 10100])[0]
                for a, b in zip(np.r_[0.0, t[:-1]], t, strict=True)
            ]
        )
        np.testing.assert_allclose(cdf, expected, atol=1e-7)
        outside = oracle.time_pdf(
            np.array([-1.0, 20001.0]), np.zeros(2, int), np.full(2, dom), params, det
        )
        np.testing.assert_array_equal(outside, 0.0)


def test_oracle_input_errors():
    det = _tiny_detector()
    params = np.zeros((1, 7)) + [
        0,
        0,
        0,
        1,
        1,
        1e4,
        1e4,
    ]
    with pytest.raises(ValueError, match="dom_index"):
        oracle.time_pdf(np.array([1.0]), np.array([0]), np.array([5]), params, det)
    with pytest.raises(ValueError, match=r"\[B, 7\]"):
        oracle.expected_charge(np.zeros((2, 6)), det)
    with pytest.raises(ValueError, match="window_ns"):
        oracle.expected_charge(params, det, window_ns=[10.0, 0.0])
