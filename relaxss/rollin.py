"""The roll-in schedule of a training run: *when* the model is fed its own predictions.

:class:`RollinSchedule` holds the settings of scheduled sampling (the options
of the ``relaxed_scheduled_sampling`` criterion, by the same names) and turns
training time into the :class:`~relaxss.relax.Rollin` a model's training
forward takes: the gold-token probability ``tf_prob`` (paper §5, Bengio et
al.'s inverse sigmoid decay ``k / (k + exp(t / k))`` or another schedule) and
the peaked softmax's inverse temperature ``alpha`` (§3.1, annealed as
``alpha_t = alpha * r ** t``), after ``gold_warmup_epochs`` epochs of gold
inputs only.  Every value is a pure function of ``(epoch, num_updates)`` and
the settings, so a resumed run and every distributed rank compute the same
numbers; the randomness of the coin flips and of the Gumbel noise comes from
:meth:`RollinSchedule.generator_for`, seeded from the position in training,
never from the global RNG.

Nothing here imports fairseq: any model that takes a ``Rollin`` (``lstm_relaxed``,
``transformer_relaxed``) is served by the same schedule.
"""
import functools
from dataclasses import dataclass, fields
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from .relax import RELAXED_MODES, ROLLIN_MODES, Rollin
from .schedules import (
    FINAL_DERIVABLE_SCHEDULES,
    SCHEDULE_UNITS,
    TEACHER_FORCING_SCHEDULES,
    alpha_at,
    schedule_end_time,
    schedule_time,
    teacher_forcing_parameter_for,
    teacher_forcing_prob,
)

# the field --teacher-forcing-final replaces, and its option, by the parameter it derives
DERIVED_OPTIONS = {"k": ("teacher_forcing_k", "--teacher-forcing-k"),
                   "slope": ("teacher_forcing_slope", "--teacher-forcing-slope"),
                   "rate": ("teacher_forcing_rate", "--teacher-forcing-rate")}
# the decay parameters when neither they nor --teacher-forcing-final are given (the fields
# default to None, so that one given equal to its default still counts as given)
DECAY_DEFAULTS = {"k": 10.0, "slope": 0.1, "rate": 0.9}


def option_name(field_name: str) -> str:
    """The command-line option of a :class:`RollinSchedule` field:
    ``teacher_forcing_k`` -> ``--teacher-forcing-k``."""
    return "--" + field_name.replace("_", "-")


@dataclass(frozen=True)
class RollinSchedule:
    """Scheduled-sampling settings and the roll-in they give at any point of training.

    The fields are the criterion's options of the same names (``--rollin``,
    ``--teacher-forcing-k``, ...; the defaults are theirs); ``max_update`` and
    ``max_epoch`` are the run length (0: no limit), read only by
    ``teacher_forcing_final`` when ``teacher_forcing_final_at`` does not say where it
    holds.  Construction checks nothing: :meth:`check`
    refuses settings the schedules cannot honour.

    Time ``t`` is completed epochs (``schedule_unit="epoch"``, the paper's) or
    completed updates (``"update"``); see :func:`~relaxss.schedules.schedule_time`.
    """

    rollin: str = "soft_greedy"
    teacher_forcing_schedule: str = "inverse_sigmoid"
    teacher_forcing_k: Optional[float] = None  # None: DECAY_DEFAULTS, or derived from final
    teacher_forcing_start: float = 1.0
    teacher_forcing_slope: Optional[float] = None
    teacher_forcing_rate: Optional[float] = None
    teacher_forcing_min: float = 0.0
    teacher_forcing_final: Optional[float] = None
    teacher_forcing_final_at: Optional[int] = None  # None: at the end of training
    schedule_unit: str = "epoch"
    alpha: float = 10.0
    alpha_anneal_rate: float = 1.0
    alpha_max: Optional[float] = None
    credit_scale: float = 1.0
    relax_top_k: int = 0
    gold_warmup_epochs: int = 1
    seed: int = 1
    max_update: int = 0
    max_epoch: int = 0

    # -- checks ------------------------------------------------------------------------

    @property
    def final_at(self) -> int:
        """The epoch (or update, by ``schedule_unit``) at which ``teacher_forcing_final``
        holds: ``teacher_forcing_final_at``, else the end of training (0: no limit)."""
        if self.teacher_forcing_final_at is not None:
            return self.teacher_forcing_final_at
        return self.max_update if self.schedule_unit == "update" else self.max_epoch

    @property
    def end_time(self) -> Optional[int]:
        """Schedule time ``t`` where ``teacher_forcing_final`` holds: ``final_at``
        completed updates (``schedule_unit="update"``) or ``final_at - 1`` completed
        epochs, the whole epoch (``"epoch"``); ``None`` when there is no such end (no
        ``teacher_forcing_final_at`` and no run limit in that unit)."""
        return schedule_end_time(self.schedule_unit, self.final_at)

    def check(self) -> None:
        """Refuse settings the schedules cannot honour: ``ValueError`` naming the
        command-line option(s)."""

        def require(ok: bool, message: str):
            if not ok:
                raise ValueError(message)

        require(self.rollin in ROLLIN_MODES,
                f"--rollin must be one of {', '.join(ROLLIN_MODES)}, got {self.rollin!r}")
        require(self.teacher_forcing_schedule in TEACHER_FORCING_SCHEDULES,
                f"--teacher-forcing-schedule must be one of "
                f"{', '.join(TEACHER_FORCING_SCHEDULES)}, got {self.teacher_forcing_schedule!r}")
        require(self.schedule_unit in SCHEDULE_UNITS,
                f"--schedule-unit must be one of {', '.join(SCHEDULE_UNITS)}, "
                f"got {self.schedule_unit!r}")
        require(self.alpha > 0, f"--alpha must be > 0, got {self.alpha}")
        require(self.alpha_anneal_rate > 0,
                f"--alpha-anneal-rate must be > 0, got {self.alpha_anneal_rate}")
        require(self.alpha_max is None or self.alpha_max > 0,
                f"--alpha-max must be > 0, got {self.alpha_max}")
        # a cap below the start would silently replace --alpha from the first update on
        require(self.alpha_max is None or self.alpha_max >= self.alpha,
                f"--alpha-max ({self.alpha_max}) must be >= --alpha ({self.alpha}): the cap "
                f"would replace --alpha from the first update on")
        given = self.given_decay
        if self.teacher_forcing_schedule == "inverse_sigmoid":
            require(given["k"] > 0,
                    f"--teacher-forcing-k must be > 0 for the inverse_sigmoid schedule, "
                    f"got {given['k']}")
        for name in ("teacher_forcing_start", "teacher_forcing_min"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0,
                    f"{option_name(name)} is a probability in [0, 1], got {value}")
        require(0.0 < given["rate"] <= 1.0,
                f"--teacher-forcing-rate must lie in (0, 1], got {given['rate']}")
        require(given["slope"] >= 0,
                f"--teacher-forcing-slope must be >= 0, got {given['slope']}")
        if self.teacher_forcing_final is not None:
            self._check_final(require)
        require(self.relax_top_k >= 0, f"--relax-top-k must be >= 0, got {self.relax_top_k}")
        require(self.credit_scale >= 0, f"--credit-scale must be >= 0, got {self.credit_scale}")
        require(self.gold_warmup_epochs >= 0,
                f"--gold-warmup-epochs must be >= 0, got {self.gold_warmup_epochs}")

    def _check_final(self, require) -> None:
        """The checks of ``teacher_forcing_final``: a probability the schedule can reach."""
        final, schedule = self.teacher_forcing_final, self.teacher_forcing_schedule
        require(0.0 < final < 1.0, f"--teacher-forcing-final is the gold probability at the "
                f"end of training, in (0, 1), got {final}")
        require(schedule in FINAL_DERIVABLE_SCHEDULES,
                f"--teacher-forcing-final has no meaning for --teacher-forcing-schedule "
                f"{schedule}, which has no decay to derive; use it with "
                f"{', '.join(FINAL_DERIVABLE_SCHEDULES)}")
        name, option = DERIVED_OPTIONS[FINAL_DERIVABLE_SCHEDULES[schedule]]
        require(getattr(self, name) is None,
                f"--teacher-forcing-final {final} and {option} {getattr(self, name)} both set "
                f"the decay of the {schedule} schedule: give only one of them")
        at = self.teacher_forcing_final_at
        require(at is None or at > 0,
                f"--teacher-forcing-final-at is the epoch (or update) where "
                f"--teacher-forcing-final holds, > 0, got {at}")
        limit_option = "--max-update" if self.schedule_unit == "update" else "--max-epoch"
        require(self.end_time is not None,
                f"--teacher-forcing-final needs the run length: with --schedule-unit "
                f"{self.schedule_unit} the end of training is {limit_option}, which is not set "
                f"(or say where it holds: --teacher-forcing-final-at)")
        end = (f"--teacher-forcing-final-at {at}" if at is not None
               else f"--max-epoch {self.max_epoch}")
        if self.schedule_unit == "epoch":
            require(self.final_at > self.gold_warmup_epochs,
                    f"--teacher-forcing-final {final} is never reached: its epoch "
                    f"({end}) is a gold warm-up epoch "
                    f"(--gold-warmup-epochs {self.gold_warmup_epochs})")
            require(self.final_at > 1, f"--teacher-forcing-final needs time to decay: "
                    f"{end} puts it at t = 0 completed epochs, the start")
        require(final >= self.teacher_forcing_min,
                f"--teacher-forcing-final {final} lies below the floor --teacher-forcing-min "
                f"{self.teacher_forcing_min}")
        if schedule in ("linear", "exponential"):
            require(final <= self.teacher_forcing_start,
                    f"--teacher-forcing-final {final} must be <= --teacher-forcing-start "
                    f"{self.teacher_forcing_start}: the {schedule} schedule decays from it")

    def ignored_options(self) -> List[str]:
        """Options set away from their defaults that have no effect with these
        settings, each with the reason (to be said once at start-up, not refused:
        a sweep may pass one set of options to every row)."""
        ignored = []
        if self.rollin not in RELAXED_MODES:
            for name in ("alpha_anneal_rate", "alpha_max", "relax_top_k", "credit_scale"):
                value = getattr(self, name)
                if value != _DEFAULTS[name]:
                    ignored.append(f"{option_name(name)} {value} (alpha, the mixture and its "
                                   f"credit exist only in the relaxed roll-ins, not in "
                                   f"--rollin {self.rollin})")
        elif self.alpha_max is not None and self.alpha_anneal_rate <= 1.0:
            ignored.append(f"--alpha-max {self.alpha_max} (alpha never grows with "
                           f"--alpha-anneal-rate {self.alpha_anneal_rate})")
        if self.teacher_forcing_final_at is not None and self.teacher_forcing_final is None:
            ignored.append(f"--teacher-forcing-final-at {self.teacher_forcing_final_at} "
                           f"(where --teacher-forcing-final holds, which is not given)")
        schedule = self.teacher_forcing_schedule
        for user, decay in FINAL_DERIVABLE_SCHEDULES.items():
            field, option = DERIVED_OPTIONS[decay]
            if user != schedule and getattr(self, field) is not None:
                ignored.append(f"{option} {getattr(self, field)} (the decay of the {user} "
                               f"schedule; --teacher-forcing-schedule {schedule} does not use it)")
        return ignored

    # -- the decay, as given or derived from teacher_forcing_final -----------------------

    @functools.cached_property
    def decay(self) -> Dict[str, float]:
        """The decay parameters of the schedule (``{"k", "slope", "rate"}``, the
        keyword arguments of :func:`~relaxss.schedules.teacher_forcing_prob`): as
        given, or, with ``teacher_forcing_final``, the one the schedule uses
        derived (once) so that it reaches that value at :attr:`end_time`."""
        decay = dict(self.given_decay)
        if self.teacher_forcing_final is not None:
            decay.update(self._derived_decay)
        return decay

    @property
    def given_decay(self) -> Dict[str, float]:
        """The decay parameters as given, :data:`DECAY_DEFAULTS` for those not given."""
        return {name: DECAY_DEFAULTS[name] if getattr(self, field) is None
                else getattr(self, field) for name, (field, _) in DERIVED_OPTIONS.items()}

    @functools.cached_property
    def _derived_decay(self) -> Dict[str, float]:
        self.check()  # refuse what cannot be derived, naming the option
        return teacher_forcing_parameter_for(
            self.teacher_forcing_schedule, self.teacher_forcing_final, self.end_time,
            start=self.teacher_forcing_start)

    def derivation_note(self) -> Optional[str]:
        """What ``teacher_forcing_final`` derived, in one line for the log
        (``None`` without it), e.g. ``--teacher-forcing-final 0.5 at update 3000:
        inverse_sigmoid k = 485.096``."""
        if self.teacher_forcing_final is None:
            return None
        ((name, value),) = self._derived_decay.items()
        t_end = self.end_time
        where = (f"update {t_end}" if self.schedule_unit == "update"
                 else f"epoch {t_end + 1} (t = {t_end} completed epochs)")
        return (f"--teacher-forcing-final {self.teacher_forcing_final} at {where}: "
                f"{self.teacher_forcing_schedule} {name} = {value:.6g}")

    # -- the schedule: a pure function of (epoch, num_updates) ---------------------------

    def time(self, epoch: int, num_updates: int) -> int:
        """Schedule time ``t``: completed epochs (``epoch - 1``; epochs count from
        1) or completed updates, by ``schedule_unit``."""
        return schedule_time(self.schedule_unit, epoch, num_updates)

    def tf_prob_at(self, epoch: int, num_updates: int) -> float:
        """Gold-token probability: 1 during the gold warm-up epochs (and always
        with ``rollin="teacher_forcing"``), then the configured schedule at time
        ``t`` -- the paper's ``k / (k + exp(t / k))``, or ``start - slope * t``,
        ``start * rate ** t``, ``start``, 0 -- floored at ``teacher_forcing_min``."""
        if epoch <= self.gold_warmup_epochs or self.rollin == "teacher_forcing":
            return 1.0
        return teacher_forcing_prob(
            self.teacher_forcing_schedule,
            self.time(epoch, num_updates),
            start=self.teacher_forcing_start,
            minimum=self.teacher_forcing_min,
            **self.decay,
        )

    def alpha_at(self, epoch: int, num_updates: int) -> float:
        """Inverse temperature of the peaked softmax, ``alpha_t = alpha * r ** t``,
        capped at ``alpha_max``."""
        return alpha_at(self.time(epoch, num_updates), self.alpha, self.alpha_anneal_rate,
                        self.alpha_max)

    def rollin_at(
        self,
        epoch: int,
        num_updates: int,
        generator: Optional[torch.Generator] = None,
        layout_order: bool = False,
        credit_meter: Optional[Tensor] = None,
    ) -> Rollin:
        """The :class:`~relaxss.relax.Rollin` of a training forward at
        ``(epoch, num_updates)``; ``generator`` (see :meth:`generator_for`),
        ``layout_order`` and ``credit_meter`` are passed on as they are."""
        return Rollin(
            mode=self.rollin,
            tf_prob=self.tf_prob_at(epoch, num_updates),
            alpha=self.alpha_at(epoch, num_updates),
            generator=generator,
            top_k=self.relax_top_k,
            layout_order=layout_order,
            credit_scale=self.credit_scale,
            credit_meter=credit_meter,
        )

    def generator_for(
        self, num_updates: int, forward_index: int = 0, rank: int = 0, device="cpu"
    ) -> torch.Generator:
        """Randomness of the coin flips and Gumbel noise for one training forward.

        Seeded from ``(seed, update, forward within the update, global rank)``
        through numpy's ``SeedSequence`` and independent of the global RNG, so
        dropout sees exactly the random numbers it sees under cross-entropy
        training; a resumed run draws the same numbers; ranks, and the batches
        of one update (``--update-freq``), draw different ones.

        forward_index: how many forwards of update ``num_updates`` came before
        this one on this rank (0 for the first).
        """
        # the forward counts from 1 in the entropy, as it always has: the same numbers
        entropy = [self.seed % 2**64, num_updates, forward_index + 1, rank]
        (seed,) = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed) % 2**63)
        return generator


# the default of each field, which the checks and the warnings compare against
_DEFAULTS = {f.name: f.default for f in fields(RollinSchedule)}
