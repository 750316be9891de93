"""relaxss: the pure-PyTorch core of Differentiable Scheduled Sampling for
Credit Assignment (Goyal, Dyer & Berg-Kirkpatrick, ACL 2017).

- :mod:`relaxss.relax`: how the previous step's scores ``s_{i-1}`` become the
  next input -- the soft argmax ``sum_y e(y) softmax(alpha s)(y)`` (§3.1), the
  Gumbel-soft sample ``sum_y e(y) softmax(alpha (s + G))(y)`` (§3.2), their
  hard and straight-through counterparts --, the coin flips that choose gold
  or model inputs, and the mixing of the two (:func:`feed_model_predictions`);
- :mod:`relaxss.schedules`: the teacher-forcing and ``alpha`` schedules as pure
  functions of training time;
- :mod:`relaxss.rollin`: :class:`RollinSchedule`, the settings of a run and the
  :class:`Rollin` they give at any ``(epoch, update)``;
- :mod:`relaxss.projection`: the output layer of a decoder run step by step.

It imports torch and numpy (to seed a roll-in's generator) only: neither
fairseq nor the fairseq plugin ``relaxss_fairseq``, whose import registers the
criterion, models and task with fairseq and allow-lists fairseq's checkpoint
globals for ``torch.load`` -- side effects a user of the core should not get.
The plugin's ``relaxed_scheduled_sampling`` criterion and its models
(``lstm_relaxed``, ``transformer_relaxed``) are adapters around this package,
so the schedule and the choice and mixing of gold or model inputs live here once.
"""
from .relax import (
    RELAXED_MODES,
    ROLLIN_MODES,
    SOFT_MODES,
    STRAIGHT_THROUGH_MODES,
    Rollin,
    credit_gate,
    draw_model_feed,
    feed_model_predictions,
    gumbel_from_uniform,
    gumbel_noise,
    gumbel_soft_embedding,
    hard_greedy_embedding,
    hard_sample_embedding,
    relaxed_input_embedding,
    soft_argmax_embedding,
    straight_through,
    straight_through_greedy_embedding,
    straight_through_sample_embedding,
)
from .rollin import DECAY_DEFAULTS, RollinSchedule
from .schedules import (
    FINAL_DERIVABLE_SCHEDULES,
    SCHEDULE_UNITS,
    TEACHER_FORCING_SCHEDULES,
    alpha_at,
    exponential_rate_for,
    inverse_sigmoid_k_for,
    linear_slope_for,
    schedule_end_time,
    schedule_time,
    teacher_forcing_parameter_for,
    teacher_forcing_prob,
)

__all__ = [
    "RELAXED_MODES",
    "ROLLIN_MODES",
    "SOFT_MODES",
    "STRAIGHT_THROUGH_MODES",
    "Rollin",
    "credit_gate",
    "draw_model_feed",
    "feed_model_predictions",
    "gumbel_from_uniform",
    "gumbel_noise",
    "gumbel_soft_embedding",
    "hard_greedy_embedding",
    "hard_sample_embedding",
    "relaxed_input_embedding",
    "soft_argmax_embedding",
    "straight_through",
    "straight_through_greedy_embedding",
    "straight_through_sample_embedding",
    "DECAY_DEFAULTS",
    "RollinSchedule",
    "FINAL_DERIVABLE_SCHEDULES",
    "SCHEDULE_UNITS",
    "TEACHER_FORCING_SCHEDULES",
    "alpha_at",
    "exponential_rate_for",
    "inverse_sigmoid_k_for",
    "linear_slope_for",
    "schedule_end_time",
    "schedule_time",
    "teacher_forcing_parameter_for",
    "teacher_forcing_prob",
]
