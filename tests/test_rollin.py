"""relaxss.RollinSchedule: the fairseq-free schedule the criterion adapts.

The criterion's tests (test_criterion.py) cover the schedule's values, the
refusals and the roll-in randomness through the criterion; these cover what the
core adds on its own: no prefix of its own on the errors, the option defaults
in one place, the generator's numbers pinned, the hand-over to ``Rollin``."""
import math
from dataclasses import fields

import numpy as np
import pytest
import torch

from relaxss import (
    FINAL_DERIVABLE_SCHEDULES,
    RELAXED_MODES,
    ROLLIN_MODES,
    SCHEDULE_UNITS,
    TEACHER_FORCING_SCHEDULES,
    Rollin,
    RollinSchedule,
)


@pytest.mark.parametrize("mode", ROLLIN_MODES)
@pytest.mark.parametrize("schedule", TEACHER_FORCING_SCHEDULES)
@pytest.mark.parametrize("unit", SCHEDULE_UNITS)
def test_the_defaults_pass_for_every_mode_schedule_and_unit(mode, schedule, unit):
    RollinSchedule(rollin=mode, teacher_forcing_schedule=schedule, schedule_unit=unit).check()


def test_errors_name_the_option_and_the_criterion_adds_its_name():
    from helpers import TinyTask, criterion_for

    with pytest.raises(ValueError, match=r"^--alpha must be > 0, got 0.0$"):
        RollinSchedule(alpha=0.0).check()
    with pytest.raises(ValueError, match=r"^relaxed_scheduled_sampling: --alpha must be > 0"):
        criterion_for(TinyTask(), alpha=0.0)


def test_the_criterion_options_are_the_schedules_fields_with_the_same_defaults():
    from relaxss_fairseq.criterions.relaxed_scheduled_sampling import (
        RelaxedScheduledSamplingConfig,
    )

    options = RelaxedScheduledSamplingConfig.__dataclass_fields__
    run = ("seed", "max_update", "max_epoch")  # fairseq's, interpolated from its other groups
    for field in fields(RollinSchedule):
        assert field.name in options
        if field.name not in run:
            assert options[field.name].default == field.default, field.name


@pytest.mark.parametrize("schedule", TEACHER_FORCING_SCHEDULES)
def test_the_gold_warmup_epochs_are_gold_whatever_the_schedule(schedule):
    warm = RollinSchedule(teacher_forcing_schedule=schedule, gold_warmup_epochs=3,
                          schedule_unit="update")
    assert [warm.tf_prob_at(epoch, 10**6) for epoch in (1, 2, 3)] == [1.0] * 3
    if schedule in ("always", "inverse_sigmoid"):
        assert warm.tf_prob_at(4, 10**6) == 0.0
    teacher_forcing = RollinSchedule(rollin="teacher_forcing", teacher_forcing_schedule=schedule)
    assert teacher_forcing.tf_prob_at(50, 10**6) == 1.0


@pytest.mark.parametrize("schedule", list(FINAL_DERIVABLE_SCHEDULES))
def test_the_derived_decay_reaches_the_final_value_at_the_end_and_is_noted(schedule):
    ends = RollinSchedule(teacher_forcing_schedule=schedule, teacher_forcing_final=0.2,
                          max_epoch=8, gold_warmup_epochs=0)
    assert ends.end_time == 7
    assert ends.tf_prob_at(8, 0) == pytest.approx(0.2, abs=1e-9)
    assert ends.tf_prob_at(7, 0) > 0.2
    (parameter,) = {"k", "slope", "rate"} & {FINAL_DERIVABLE_SCHEDULES[schedule]}
    assert ends.derivation_note() == (
        f"--teacher-forcing-final 0.2 at epoch 8 (t = 7 completed epochs): "
        f"{schedule} {parameter} = {ends.decay[parameter]:.6g}")
    assert RollinSchedule().derivation_note() is None


def test_a_final_value_that_cannot_be_derived_is_refused_by_name_when_asked_for_the_decay():
    with pytest.raises(ValueError, match="--teacher-forcing-final needs the run length"):
        RollinSchedule(teacher_forcing_final=0.5).decay


def test_ignored_options_name_the_options_and_why():
    assert RollinSchedule(rollin="hard_greedy").ignored_options() == []
    (hard,) = RollinSchedule(rollin="hard_greedy", relax_top_k=4).ignored_options()
    assert hard.startswith("--relax-top-k 4 (") and "--rollin hard_greedy" in hard
    (capped,) = RollinSchedule(alpha_max=50.0).ignored_options()
    assert capped.startswith("--alpha-max 50.0 (alpha never grows")
    for mode in RELAXED_MODES:
        assert RollinSchedule(rollin=mode, relax_top_k=4, credit_scale=0.5,
                              alpha_anneal_rate=2.0, alpha_max=50.0).ignored_options() == []
    # a decay option of another schedule, given even at its default, does nothing
    (slope,) = RollinSchedule(teacher_forcing_slope=0.1, teacher_forcing_k=3.0).ignored_options()
    assert slope.startswith("--teacher-forcing-slope 0.1 (the decay of the linear schedule")
    (k,) = RollinSchedule(teacher_forcing_schedule="constant", teacher_forcing_k=3.0,
                          teacher_forcing_start=0.5).ignored_options()
    assert k.startswith("--teacher-forcing-k 3.0 (") and "schedule constant" in k
    assert RollinSchedule(teacher_forcing_schedule="linear",
                          teacher_forcing_slope=0.2).ignored_options() == []


def test_rollin_at_hands_the_settings_to_the_rollin():
    schedule = RollinSchedule(rollin="st_sample", teacher_forcing_schedule="constant",
                              teacher_forcing_start=0.25, alpha=2.0, alpha_anneal_rate=3.0,
                              alpha_max=40.0, relax_top_k=5, credit_scale=0.5)
    generator, meter = torch.Generator(), torch.zeros(())
    rollin = schedule.rollin_at(3, 0, generator, layout_order=True, credit_meter=meter)
    assert rollin.alpha == pytest.approx(18.0)  # 2 * 3^2
    assert rollin == Rollin("st_sample", tf_prob=0.25, alpha=rollin.alpha, generator=generator,
                            top_k=5, layout_order=True, credit_scale=0.5, credit_meter=meter)
    assert schedule.rollin_at(9, 0).alpha == 40.0
    assert schedule.rollin_at(3, 0).layout_order is False


def test_the_generator_is_a_pure_function_of_seed_update_forward_and_rank():
    schedule = RollinSchedule(seed=3)

    def draw(*position, seed=3):
        return torch.rand(6, generator=RollinSchedule(seed=seed).generator_for(*position))

    global_state = torch.get_rng_state()
    first = draw(100, 0, 0)
    assert torch.equal(first, torch.rand(6, generator=schedule.generator_for(100, 0, 0)))
    for other in (draw(101, 0, 0), draw(100, 1, 0), draw(100, 0, 1), draw(100, 0, 0, seed=4)):
        assert not torch.equal(other, first)
    assert torch.equal(torch.get_rng_state(), global_state)  # dropout's numbers untouched
    # the numbers earlier runs drew: SeedSequence(seed, update, forward counted from 1, rank)
    (state,) = np.random.SeedSequence([3, 100, 1, 0]).generate_state(1, dtype=np.uint64)
    assert torch.equal(first, torch.rand(6, generator=torch.Generator().manual_seed(
        int(state) % 2**63)))


def test_the_schedule_is_frozen_and_its_decay_computed_once():
    schedule = RollinSchedule(teacher_forcing_final=0.5, schedule_unit="update",
                              max_update=3000)
    with pytest.raises(AttributeError):
        schedule.alpha = 3.0
    assert schedule.decay is schedule.decay
    k = schedule.decay["k"]
    assert schedule.tf_prob_at(2, 1000) == pytest.approx(k / (k + math.exp(1000 / k)))
