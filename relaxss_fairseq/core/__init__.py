"""Pure-PyTorch core of relaxss-fairseq: relaxations of argmax and schedules.

Nothing in this sub-package imports fairseq, so it can be reused (and unit
tested) on its own.
"""
from .relax import (
    ROLLIN_MODES,
    SOFT_MODES,
    Rollin,
    draw_model_feed,
    gumbel_from_uniform,
    gumbel_noise,
    gumbel_soft_embedding,
    hard_greedy_embedding,
    hard_sample_embedding,
    relaxed_input_embedding,
    soft_argmax_embedding,
)
from .schedules import (
    SCHEDULE_UNITS,
    TEACHER_FORCING_SCHEDULES,
    alpha_at,
    schedule_time,
    teacher_forcing_prob,
)

__all__ = [
    "ROLLIN_MODES",
    "SOFT_MODES",
    "Rollin",
    "draw_model_feed",
    "gumbel_from_uniform",
    "gumbel_noise",
    "gumbel_soft_embedding",
    "hard_greedy_embedding",
    "hard_sample_embedding",
    "relaxed_input_embedding",
    "soft_argmax_embedding",
    "SCHEDULE_UNITS",
    "TEACHER_FORCING_SCHEDULES",
    "alpha_at",
    "schedule_time",
    "teacher_forcing_prob",
]
