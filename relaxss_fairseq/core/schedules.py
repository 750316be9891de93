"""Schedules of scheduled sampling, as pure functions of training time.

No hidden state: the value at time ``t`` depends on ``t`` and the settings
only, so a run resumed from a checkpoint and every distributed rank compute
the same numbers by construction.
"""
import math
from typing import Optional

TEACHER_FORCING_SCHEDULES = ("inverse_sigmoid", "linear", "exponential", "constant", "always")
SCHEDULE_UNITS = ("epoch", "update")

# exp() of anything larger overflows a float64
_MAX_EXPONENT = 700.0


def schedule_time(unit: str, epoch: int, num_updates: int) -> int:
    """Time ``t`` the schedules run on: completed epochs (``epoch - 1``, the
    paper's unit; fairseq counts epochs from 1) or completed updates."""
    if unit == "epoch":
        return max(epoch - 1, 0)
    if unit == "update":
        return max(num_updates, 0)
    raise ValueError(f"unknown schedule unit {unit!r}; expected one of {SCHEDULE_UNITS}")


def inverse_sigmoid_decay(t: float, k: float) -> float:
    """Bengio et al. (2015) inverse sigmoid decay ``k / (k + exp(t / k))``,
    the schedule used in the paper (§5); larger ``k`` decays more gently."""
    exponent = t / k
    if exponent > _MAX_EXPONENT:
        return 0.0
    return k / (k + math.exp(exponent))


def teacher_forcing_prob(
    schedule: str,
    t: float,
    k: float = 10.0,
    start: float = 1.0,
    slope: float = 0.1,
    rate: float = 0.9,
    minimum: float = 0.0,
) -> float:
    """Probability of feeding the gold previous token at time ``t``.

    - ``inverse_sigmoid``: ``k / (k + exp(t / k))``
    - ``linear``:          ``start - slope * t``
    - ``exponential``:     ``start * rate ** t``
    - ``constant``:        ``start``
    - ``always``:          ``0`` (always feed the model's own prediction)

    The result is floored at ``minimum`` (Bengio et al.'s epsilon).
    """
    if schedule == "inverse_sigmoid":
        prob = inverse_sigmoid_decay(t, k)
    elif schedule == "linear":
        prob = start - slope * t
    elif schedule == "exponential":
        prob = start * math.exp(max(t * math.log(rate), -_MAX_EXPONENT)) if rate > 0 else 0.0
    elif schedule == "constant":
        prob = start
    elif schedule == "always":
        return 0.0
    else:
        raise ValueError(
            f"unknown teacher-forcing schedule {schedule!r}; "
            f"expected one of {TEACHER_FORCING_SCHEDULES}"
        )
    return min(1.0, max(minimum, prob))


def alpha_at(
    t: float, alpha0: float, anneal_rate: float = 1.0, alpha_max: Optional[float] = None
) -> float:
    """Inverse temperature of the peaked softmax, ``alpha_t = alpha0 * r ** t``
    (the paper's exponential annealing; ``r = 1`` keeps ``alpha`` fixed),
    capped at ``alpha_max`` when given."""
    exponent = min(t * math.log(anneal_rate), _MAX_EXPONENT)
    alpha = alpha0 * math.exp(exponent)
    if alpha_max is not None:
        alpha = min(alpha, alpha_max)
    return alpha
