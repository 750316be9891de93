"""Teacher-forcing and alpha schedules as pure functions of time."""
import math

import pytest

from relaxss import (
    alpha_at,
    exponential_rate_for,
    inverse_sigmoid_k_for,
    linear_slope_for,
    schedule_end_time,
    schedule_time,
    teacher_forcing_parameter_for,
    teacher_forcing_prob,
)


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


# -- stating a schedule by where it ends ---------------------------------------------------

@pytest.mark.parametrize("final", [1e-6, 0.01, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("t_end", [0, 1, 9, 3000, 10**6])
def test_derived_k_reproduces_the_final_value_at_the_end(final, t_end):
    k = inverse_sigmoid_k_for(final, t_end)
    assert k > 0
    assert k / (k + math.exp(t_end / k)) == pytest.approx(final, abs=1e-9)
    assert teacher_forcing_prob("inverse_sigmoid", t_end, k=k) == pytest.approx(final, abs=1e-9)


def test_derived_k_has_a_closed_form_at_t_zero():
    assert inverse_sigmoid_k_for(0.75, 0) == pytest.approx(3.0, rel=1e-12)


def test_derived_k_grows_with_the_final_value_and_with_the_run_length():
    ks = [inverse_sigmoid_k_for(p, 3000) for p in (0.05, 0.3, 0.5, 0.8, 0.95)]
    assert ks == sorted(ks) and len(set(ks)) == len(ks)
    by_length = [inverse_sigmoid_k_for(0.5, t) for t in (10, 100, 1000, 10000)]
    assert by_length == sorted(by_length) and len(set(by_length)) == len(by_length)


def test_derived_k_matches_the_papers_k_where_they_coincide():
    # k = 10 gives 10 / (10 + e^3) at t = 30; the derivation must find k = 10 again
    assert inverse_sigmoid_k_for(10 / (10 + math.exp(3)), 30) == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize("final", [0.0, 1.0, -0.2, 1.5])
def test_derived_k_refuses_a_final_value_outside_0_1(final):
    with pytest.raises(ValueError, match="\\(0, 1\\)"):
        inverse_sigmoid_k_for(final, 10)


def test_linear_and_exponential_derivations():
    assert linear_slope_for(0.3, 10) == pytest.approx(0.07)
    assert linear_slope_for(0.2, 4, start=0.8) == pytest.approx(0.15)
    assert exponential_rate_for(0.25, 2) == pytest.approx(0.5)
    assert exponential_rate_for(0.1, 3, start=0.8) == pytest.approx(0.5)
    for t_end in (7, 5000):
        slope = linear_slope_for(0.3, t_end, start=0.9)
        rate = exponential_rate_for(0.3, t_end, start=0.9)
        assert teacher_forcing_prob("linear", t_end, start=0.9, slope=slope) == pytest.approx(0.3)
        assert teacher_forcing_prob("exponential", t_end, start=0.9, rate=rate) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="end time"):
        linear_slope_for(0.3, 0)


@pytest.mark.parametrize("schedule, name", [("inverse_sigmoid", "k"), ("linear", "slope"),
                                            ("exponential", "rate")])
def test_parameter_for_a_schedule_is_the_keyword_it_replaces(schedule, name):
    params = teacher_forcing_parameter_for(schedule, 0.4, 50, start=0.9)
    assert list(params) == [name]
    assert teacher_forcing_prob(schedule, 50, start=0.9, **params) == pytest.approx(0.4, abs=1e-9)


@pytest.mark.parametrize("schedule", ["constant", "always"])
def test_schedules_without_decay_have_no_parameter_to_derive(schedule):
    with pytest.raises(ValueError, match="no decay to derive"):
        teacher_forcing_parameter_for(schedule, 0.4, 50)


def test_end_time_is_the_last_epochs_t_or_the_update_count():
    assert schedule_end_time("epoch", 10) == 9
    assert schedule_end_time("epoch", 1) == 0
    assert schedule_end_time("update", 500) == 500
    assert schedule_end_time("update", 0) is None
    assert schedule_end_time("epoch", 0) is None
    with pytest.raises(ValueError, match="unknown schedule unit 'step'"):
        schedule_end_time("step", 10)
