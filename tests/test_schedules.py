"""Teacher-forcing and alpha schedules as pure functions of time."""
import math

import pytest

from relaxss_fairseq.core import alpha_at, schedule_time, teacher_forcing_prob


@pytest.mark.parametrize(
    "k, t, expected",
    [
        (1.0, 0, 0.5),
        (1.0, 2, 1 / (1 + math.e**2)),
        (10.0, 0, 10 / 11),
        (10.0, 10, 10 / (10 + math.e)),
        (100.0, 5, 100 / (100 + math.exp(0.05))),
    ],
)
def test_inverse_sigmoid_is_k_over_k_plus_exp_t_over_k(k, t, expected):
    assert teacher_forcing_prob("inverse_sigmoid", t, k=k) == pytest.approx(expected)


def test_inverse_sigmoid_decays_to_zero_without_overflow():
    assert teacher_forcing_prob("inverse_sigmoid", 10**9, k=1.0) == 0.0


def test_larger_k_decays_more_gently():
    at_t5 = [teacher_forcing_prob("inverse_sigmoid", 5, k=k) for k in (1, 10, 100)]
    assert at_t5 == sorted(at_t5)


def test_linear_exponential_constant_always():
    assert teacher_forcing_prob("linear", 3, start=0.9, slope=0.2) == pytest.approx(0.3)
    assert teacher_forcing_prob("linear", 10, start=0.9, slope=0.2, minimum=0.1) == 0.1
    assert teacher_forcing_prob("exponential", 2, start=1.0, rate=0.5) == pytest.approx(0.25)
    assert teacher_forcing_prob("exponential", 10**7, rate=0.5) == pytest.approx(0.0, abs=1e-12)
    assert teacher_forcing_prob("constant", 99, start=0.4) == 0.4
    assert teacher_forcing_prob("always", 0) == 0.0


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown teacher-forcing schedule"):
        teacher_forcing_prob("cosine", 1)


def test_alpha_fixed_annealed_and_capped():
    assert alpha_at(7, 5.0) == 5.0
    assert alpha_at(3, 2.0, anneal_rate=2.0) == pytest.approx(16.0)
    assert alpha_at(3, 2.0, anneal_rate=2.0, alpha_max=10.0) == 10.0
    assert alpha_at(10**6, 2.0, anneal_rate=2.0, alpha_max=1e6) == 1e6
    assert alpha_at(2, 8.0, anneal_rate=0.5) == pytest.approx(2.0)


def test_schedule_time_counts_completed_epochs_or_updates():
    assert schedule_time("epoch", 1, 500) == 0
    assert schedule_time("epoch", 4, 500) == 3
    assert schedule_time("update", 4, 500) == 500
    with pytest.raises(ValueError, match="unknown schedule unit"):
        schedule_time("step", 1, 1)
