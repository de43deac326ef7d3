"""Learning-rate schedules: values at and between phase boundaries against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from egenerator.train.optimizers import OptimizerConfigError, make_optimizer
from egenerator.train.schedules import (
    PiecewiseSchedule,
    ScheduleConfigError,
    build_learning_rate,
    learning_rate_value,
)

SEED_SCHEDULE = {
    "schedule": "piecewise",
    "phases": [
        {"steps": 10000, "start": 0.01, "end": 0.001, "decay": "linear"},
        {"steps": 490000, "value": 0.001},
        {"steps": 500000, "start": 0.001, "end": 1.0e-6, "decay": "polynomial", "power": 2},
    ],
}


def seed_closed_form(step: int) -> float:
    """The seed's schedule written out by hand."""
    if step < 10000:
        return 0.01 + (0.001 - 0.01) * step / 10000
    if step < 500000:
        return 0.001
    if step < 1000000:
        f = (step - 500000) / 500000
        return (0.001 - 1e-6) * (1 - f) ** 2 + 1e-6
    return 1e-6


@pytest.mark.parametrize(
    "step",
    [
        0,
        1,
        4999,
        9999,
        10000,
        10001,
        250000,
        499999,
        500000,
        500001,
        750000,
        999999,
        1000000,
        5000000,
    ],
)
def test_seed_schedule_matches_closed_form(step):
    schedule = build_learning_rate(SEED_SCHEDULE)
    assert isinstance(schedule, PiecewiseSchedule)
    assert schedule.total_steps == 1000000
    np.testing.assert_allclose(float(schedule(step)), seed_closed_form(step), rtol=1e-6)


def test_vectorised_over_steps_and_int64_steps():
    schedule = build_learning_rate(SEED_SCHEDULE)
    steps = np.array([0, 10000, 750000], dtype=np.int64)
    values = [float(schedule(tf.constant(s))) for s in steps]
    np.testing.assert_allclose(values, [seed_closed_form(int(s)) for s in steps], rtol=1e-6)


def test_other_decays_closed_form():
    schedule = build_learning_rate(
        {
            "schedule": "piecewise",
            "phases": [
                {"steps": 100, "start": 1.0, "end": 0.01, "decay": "exponential"},
                {"steps": 50, "start": 0.01, "end": 0.002, "decay": "cosine"},
                {"steps": 10, "decay": "constant", "value": 0.5},
            ],
        }
    )
    for step in (0, 37, 99):
        np.testing.assert_allclose(float(schedule(step)), 0.01 ** (step / 100), rtol=1e-6)
    for step in (100, 125, 149):
        f = (step - 100) / 50
        want = 0.002 + (0.01 - 0.002) * 0.5 * (1 + math.cos(math.pi * f))
        np.testing.assert_allclose(float(schedule(step)), want, rtol=1e-6)
    assert float(schedule(150)) == pytest.approx(0.5)
    assert float(schedule(10**6)) == pytest.approx(0.5)


def test_serialisation_round_trip():
    schedule = build_learning_rate(SEED_SCHEDULE)
    restored = tf.keras.optimizers.schedules.deserialize(
        tf.keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(restored, PiecewiseSchedule)
    assert restored.get_config() == schedule.get_config()
    assert build_learning_rate(schedule.to_spec()).get_config() == schedule.get_config()
    optimizer = tf.keras.optimizers.Adam(schedule)
    assert optimizer.get_config()["learning_rate"]["class_name"] == "PiecewiseSchedule"


def test_constant_and_keras_forms():
    assert build_learning_rate(0.003) == 0.003
    assert build_learning_rate({"schedule": "constant", "value": 0.2}) == 0.2
    old = build_learning_rate(
        {
            "full_class_string": "tensorflow.keras.optimizers.schedules.PolynomialDecay",
            "settings": {
                "initial_learning_rate": 0.01,
                "decay_steps": 1000,
                "end_learning_rate": 0.001,
                "power": 2,
            },
        }
    )
    for step in (0, 500, 1000, 2000):
        f = min(step, 1000) / 1000
        np.testing.assert_allclose(
            learning_rate_value(old, step), 0.009 * (1 - f) ** 2 + 0.001, rtol=1e-6
        )
    pc = build_learning_rate(
        {
            "class_name": "PiecewiseConstantDecay",
            "config": {"boundaries": [10, 20], "values": [0.1, 0.01, 0.001]},
        }
    )
    assert [round(learning_rate_value(pc, s), 7) for s in (0, 10, 11, 20, 21)] == [
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"schedule": "piecewise", "phases": []}, "learning_rate.phases"),
        ({"schedule": "piecewise", "phases": [{"steps": 0, "value": 1.0}]}, "phases[0].steps"),
        ({"schedule": "piecewise", "phases": [{"steps": 5, "start": 1.0}]}, "phases[0]"),
        (
            {"schedule": "piecewise", "phases": [{"steps": 5, "value": 1, "foo": 2}]},
            "phases[0].foo",
        ),
        (
            {"schedule": "piecewise", "phases": [{"steps": 5, "start": 1, "end": 0, "decay": "x"}]},
            "phases[0].decay",
        ),
        ({"schedule": "stairs"}, "learning_rate.schedule"),
        ({"class_name": "os.system", "config": {}}, "learning_rate.class_name"),
        ({"class_name": "PolynomialDecay", "config": {"bogus": 1}}, "learning_rate.config"),
        (-0.1, "learning_rate"),
        ("fast", "learning_rate"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(ScheduleConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_learning_rate(spec)


def test_optimizer_factory():
    opt = make_optimizer("Adam", {"learning_rate": SEED_SCHEDULE, "amsgrad": True, "epsilon": 1e-7})
    assert isinstance(opt, tf.keras.optimizers.Adam)
    assert opt.amsgrad and opt.epsilon == 1e-7
    assert isinstance(
        make_optimizer("tf.keras.optimizers.sgd", {"learning_rate": 0.1}), tf.keras.optimizers.SGD
    )
    with pytest.raises(OptimizerConfigError, match="training_settings.optimizer_name"):
        make_optimizer("Adamm", {})
    with pytest.raises(OptimizerConfigError, match="optimizer_settings"):
        make_optimizer("Adam", {"amsgradd": True})
    with pytest.raises(OptimizerConfigError, match="clipnorm"):
        make_optimizer("Adam", {"clipnorm": 1.0})
