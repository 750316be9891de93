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


# -- stating a schedule by where it ends --------------------------------------------------

# the schedules whose decay parameter --teacher-forcing-final can derive, and that parameter
FINAL_DERIVABLE_SCHEDULES = {"inverse_sigmoid": "k", "linear": "slope", "exponential": "rate"}


def schedule_end_time(unit: str, final_at: int) -> Optional[int]:
    """Schedule time ``t_end`` at which a schedule that ends at ``final_at`` -- an epoch
    number or an update count, by ``unit``: the run's ``--max-epoch`` / ``--max-update``
    or ``--teacher-forcing-final-at`` -- takes its end value, on the clock of
    :func:`schedule_time`; ``None`` when ``final_at`` is 0 (fairseq's "no limit").

    - ``epoch``: epoch ``final_at`` is trained at ``t = final_at - 1`` completed
      epochs, so ``t_end = final_at - 1`` (the whole of that epoch runs at the end
      value).
    - ``update``: ``t_end = final_at``, the number of completed updates when
      training stops (the last update itself is computed at ``final_at - 1``).
    """
    if unit not in SCHEDULE_UNITS:
        raise ValueError(f"unknown schedule unit {unit!r}; expected one of {SCHEDULE_UNITS}")
    if final_at <= 0:
        return None
    return final_at - 1 if unit == "epoch" else final_at


def inverse_sigmoid_k_for(final: float, t_end: float) -> float:
    """The ``k`` of the inverse sigmoid schedule that reaches ``final`` at ``t_end``:
    the root of

        k / (k + exp(t_end / k)) = final,      0 < final < 1,  t_end >= 0.

    The left side rises strictly from 0 (``k -> 0``) to 1 (``k -> inf``) --
    its log-derivative is ``exp(t/k) (1 + t/k) / (k (k + exp(t/k))) > 0`` -- so
    the root exists and is unique; it is found by bisection on ``log k``
    (pure Python, to float precision).  ``t_end = 0`` gives ``final / (1 - final)``.
    """
    if not 0.0 < final < 1.0:
        raise ValueError(f"final teacher-forcing probability must lie in (0, 1), got {final}")
    if t_end < 0:
        raise ValueError(f"end time must be >= 0, got {t_end}")

    def at(k: float) -> float:
        return inverse_sigmoid_decay(t_end, k)

    lo = hi = 1.0
    while at(lo) > final:
        lo /= 2.0
    while at(hi) < final:
        hi *= 2.0
    for _ in range(400):  # each step halves log(hi / lo)
        mid = math.sqrt(lo * hi)
        if not lo < mid < hi:
            break
        if at(mid) < final:
            lo = mid
        else:
            hi = mid
    # the better end of the last bracket
    return lo if abs(at(lo) - final) <= abs(at(hi) - final) else hi


def linear_slope_for(final: float, t_end: float, start: float = 1.0) -> float:
    """The slope of ``start - slope * t`` that reaches ``final`` at ``t_end``:
    ``(start - final) / t_end``."""
    if t_end <= 0:
        raise ValueError(f"end time must be > 0 for the linear schedule, got {t_end}")
    return (start - final) / t_end


def exponential_rate_for(final: float, t_end: float, start: float = 1.0) -> float:
    """The rate of ``start * rate ** t`` that reaches ``final`` at ``t_end``:
    ``(final / start) ** (1 / t_end)``."""
    if t_end <= 0:
        raise ValueError(f"end time must be > 0 for the exponential schedule, got {t_end}")
    if final <= 0.0 or start <= 0.0:
        raise ValueError(f"final ({final}) and start ({start}) must be > 0 for the "
                         f"exponential schedule")
    return math.exp(math.log(final / start) / t_end)


def teacher_forcing_parameter_for(
    schedule: str, final: float, t_end: float, start: float = 1.0
) -> dict:
    """The decay parameter of ``schedule`` that makes it reach ``final`` at
    ``t_end``, as the keyword argument of :func:`teacher_forcing_prob` it
    replaces (``{"k": ...}``, ``{"slope": ...}`` or ``{"rate": ...}``), so that
    ``teacher_forcing_prob(schedule, t_end, start=start, **params) == final``
    (before the floor ``minimum``).  ``constant`` and ``always`` have no decay
    to derive."""
    if schedule == "inverse_sigmoid":
        return {"k": inverse_sigmoid_k_for(final, t_end)}
    if schedule == "linear":
        return {"slope": linear_slope_for(final, t_end, start)}
    if schedule == "exponential":
        return {"rate": exponential_rate_for(final, t_end, start)}
    raise ValueError(
        f"the {schedule!r} teacher-forcing schedule has no decay to derive from a final "
        f"value; expected one of {tuple(FINAL_DERIVABLE_SCHEDULES)}"
    )
