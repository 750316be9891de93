"""``relaxed_scheduled_sampling``: the paper's training objective.

The criterion owns *when*: it follows fairseq's epoch and update count and
asks the fairseq-free :class:`~relaxss.rollin.RollinSchedule`, built from its
options, for the gold-token probability (``tf_prob``) and the peaked-softmax
inverse temperature (``alpha``) there, hands them to the model as a
:class:`~relaxss.relax.Rollin`, and takes the usual (optionally label-smoothed)
cross-entropy of the scores the model produced under that roll-in:
``-sum_i log p(y*_i | h_i(e_{i-1}, h_{i-1}))`` where ``e_{i-1}`` is the gold
embedding or the model's relaxed previous prediction (paper §2, §3.3).
"""
import logging
import math
from dataclasses import dataclass, field, fields, replace
from typing import Optional

import torch
from torch import Tensor

from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.distributed import utils as distributed_utils
from fairseq.logging import metrics
from omegaconf import II

from relaxss import (
    DECAY_DEFAULTS,
    ROLLIN_MODES,
    SCHEDULE_UNITS,
    TEACHER_FORCING_SCHEDULES,
    Rollin,
    RollinSchedule,
)

logger = logging.getLogger(__name__)

# the options' defaults are the schedule's: one place for both
DEFAULTS = RollinSchedule()


@dataclass
class RelaxedScheduledSamplingConfig(LabelSmoothedCrossEntropyCriterionConfig):
    rollin: ChoiceEnum(ROLLIN_MODES) = field(
        default=DEFAULTS.rollin,
        metadata={
            "help": "what a position not fed the gold token receives: the model's "
            "previous prediction as a hard argmax (hard_greedy) or sample "
            "(hard_sample) -- Bengio et al. (2015) -- or its relaxation, the "
            "soft argmax (soft_greedy, paper 3.1) or Gumbel-soft sample "
            "(soft_sample, paper 3.2), or straight-through: the hard argmax / "
            "Gumbel-max sample forward, the soft one's gradient backward "
            "(st_greedy, st_sample); teacher_forcing always feeds gold"
        },
    )
    teacher_forcing_schedule: ChoiceEnum(TEACHER_FORCING_SCHEDULES) = field(
        default=DEFAULTS.teacher_forcing_schedule,
        metadata={
            "help": "how the gold-token probability decays with time t: "
            "inverse_sigmoid k/(k+exp(t/k)) (the paper's), linear start-slope*t, "
            "exponential start*rate^t, constant start, always 0 (never gold)"
        },
    )
    teacher_forcing_k: Optional[float] = field(
        default=DEFAULTS.teacher_forcing_k,
        metadata={"help": "decay strength k of the inverse_sigmoid schedule (> 0); "
                  "larger k decays more gently (paper Table 2: 100, 10, 1). "
                  f"Default: {DECAY_DEFAULTS['k']:g}, or derived from --teacher-forcing-final"},
    )
    teacher_forcing_start: float = field(
        default=DEFAULTS.teacher_forcing_start,
        metadata={"help": "gold probability at t=0 for the linear and exponential "
                  "schedules, and the value of the constant schedule"},
    )
    teacher_forcing_slope: Optional[float] = field(
        default=DEFAULTS.teacher_forcing_slope,
        metadata={"help": "decrease of the gold probability per unit of t (linear). "
                  f"Default: {DECAY_DEFAULTS['slope']:g}, or derived from "
                  "--teacher-forcing-final"},
    )
    teacher_forcing_rate: Optional[float] = field(
        default=DEFAULTS.teacher_forcing_rate,
        metadata={"help": "factor applied per unit of t (exponential), in (0, 1]. "
                  f"Default: {DECAY_DEFAULTS['rate']:g}, or derived from "
                  "--teacher-forcing-final"},
    )
    teacher_forcing_min: float = field(
        default=DEFAULTS.teacher_forcing_min,
        metadata={"help": "floor of the gold probability (Bengio et al.'s epsilon)"},
    )
    teacher_forcing_final: Optional[float] = field(
        default=DEFAULTS.teacher_forcing_final,
        metadata={"help": "state the schedule by where it ends: the gold probability in "
                  "(0, 1) reached at the end of training, from which the decay parameter "
                  "(inverse_sigmoid k, linear slope, exponential rate; the others refuse it) "
                  "is derived for this run length, so the same value means the same decay "
                  "at any length. The end is t = --max-update completed updates "
                  "(--schedule-unit update) or t = --max-epoch - 1 completed epochs, i.e. "
                  "the whole last epoch (--schedule-unit epoch); t counts from the start of "
                  "training, gold warm-up included. Replaces --teacher-forcing-k/-slope/-rate "
                  "(not both). Default: off"},
    )
    teacher_forcing_final_at: Optional[int] = field(
        default=DEFAULTS.teacher_forcing_final_at,
        metadata={"help": "with --teacher-forcing-final: the epoch (--schedule-unit epoch) "
                  "or update (update) at which it holds, in place of the end of training; "
                  "the schedule decays on after it. E.g. to train runs of a schedule stated "
                  "for --max-epoch 24 on to a later cap with the same schedule: "
                  "--teacher-forcing-final-at 24. Default: the end of training"},
    )
    schedule_unit: ChoiceEnum(SCHEDULE_UNITS) = field(
        default=DEFAULTS.schedule_unit,
        metadata={"help": "time t of the schedules and of alpha annealing: completed "
                  "epochs (the paper) or completed updates"},
    )
    alpha: float = field(
        default=DEFAULTS.alpha,
        metadata={"help": "inverse temperature of the peaked softmax softmax(alpha*s) "
                  "at t=0 (> 0); alpha -> inf recovers the hard argmax"},
    )
    alpha_anneal_rate: float = field(
        default=DEFAULTS.alpha_anneal_rate,
        metadata={"help": "alpha_t = alpha * rate^t; 1.0 keeps alpha fixed"},
    )
    alpha_max: Optional[float] = field(
        default=DEFAULTS.alpha_max,
        metadata={"help": "upper bound on the annealed alpha"},
    )
    credit_scale: float = field(
        default=DEFAULTS.credit_scale,
        metadata={"help": "relaxed modes: factor on the gradient each relaxed input sends "
                  "into the scores it was made from (>= 0). 1: the paper's credit "
                  "assignment; 0: soft inputs with no credit (the relaxation alone); "
                  "in between, a gradient crossing n relaxed inputs is scaled by "
                  "credit_scale^n, bounding its growth along chains of model-fed positions"},
    )
    relax_top_k: int = field(
        default=DEFAULTS.relax_top_k,
        metadata={"help": "relaxed modes (soft and straight-through): mix only the k "
                  "highest-scoring embeddings instead "
                  "of the whole vocabulary (faster for large vocabularies and large alpha; "
                  "an approximation of the paper's mixture). 0: exact"},
    )
    gold_warmup_epochs: int = field(
        default=DEFAULTS.gold_warmup_epochs,
        metadata={"help": "first epochs trained on gold inputs only (the paper: 1)"},
    )
    seed: int = II("common.seed")
    # the run length, for --teacher-forcing-final (0: no limit)
    max_update: int = II("optimization.max_update")
    max_epoch: int = II("optimization.max_epoch")


def run_limit(cfg: RelaxedScheduledSamplingConfig, name: str) -> int:
    """``cfg.max_update`` or ``cfg.max_epoch`` (fairseq's run length; 0: no limit).
    A config built outside fairseq keeps the interpolation ``${optimization...}``
    unresolved: that reads as 0, not given."""
    try:
        value = getattr(cfg, name)
    except Exception:  # omegaconf: an interpolation with no root config to resolve it in
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def rollin_schedule(cfg: RelaxedScheduledSamplingConfig) -> RollinSchedule:
    """The :class:`~relaxss.rollin.RollinSchedule` of the criterion's options
    (same names), with fairseq's run length; not checked."""
    settings = {f.name: getattr(cfg, f.name) for f in fields(RollinSchedule)
                if f.name not in ("max_update", "max_epoch")}
    return RollinSchedule(**settings, max_update=run_limit(cfg, "max_update"),
                          max_epoch=run_limit(cfg, "max_epoch"))


def check_config(cfg: RelaxedScheduledSamplingConfig) -> RollinSchedule:
    """Refuse settings the schedules (or the loss) cannot honour, naming the
    option; the checked schedule otherwise."""
    schedule = rollin_schedule(cfg)
    try:
        schedule.check()
        if not 0.0 <= cfg.label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must lie in [0, 1), got {cfg.label_smoothing}")
    except ValueError as error:
        raise ValueError(f"relaxed_scheduled_sampling: {error}") from None
    return schedule


@register_criterion("relaxed_scheduled_sampling", dataclass=RelaxedScheduledSamplingConfig)
class RelaxedScheduledSamplingCriterion(LabelSmoothedCrossEntropyCriterion):
    """Scheduled sampling with hard or relaxed (soft argmax / Gumbel-soft) roll-in."""

    def __init__(self, cfg: RelaxedScheduledSamplingConfig, task):
        # the schedule: when gold or model inputs are fed, and alpha (fairseq-free);
        # the decay parameter derived from --teacher-forcing-final once, here
        self.schedule = check_config(cfg)
        for option in self.schedule.ignored_options():
            logger.warning(f"relaxed_scheduled_sampling: ignoring {option}")
        super().__init__(
            task,
            sentence_avg=cfg.sentence_avg,
            label_smoothing=cfg.label_smoothing,
            ignore_prefix_size=cfg.ignore_prefix_size,
            report_accuracy=cfg.report_accuracy,
        )
        self.cfg = cfg
        note = self.schedule.derivation_note()
        if note is not None:
            logger.info(f"relaxed_scheduled_sampling: {note}")
        self.epoch = 1
        self._seeded_update, self._forwards_in_update = None, 0  # see rollin_generator
        self._follow_epochs_of(task)

    def _follow_epochs_of(self, task):
        """fairseq announces a new epoch only to the task (``Trainer.begin_epoch``
        calls ``task.begin_epoch(epoch, model)``, also after resuming); chain onto
        that hook so the schedule sees the epoch whichever task is used."""
        task_begin_epoch = task.begin_epoch

        def begin_epoch(epoch, model):
            self.set_epoch(epoch)
            return task_begin_epoch(epoch, model)

        task.begin_epoch = begin_epoch

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    # -- the schedule: a pure function of (epoch, num_updates), see RollinSchedule ------

    def tf_prob_at(self, epoch: int, num_updates: int) -> float:
        """Gold-token probability: 1 during the gold warm-up epochs, then the
        configured schedule at time t (with the decay parameter derived from
        --teacher-forcing-final, when given, at construction)."""
        return self.schedule.tf_prob_at(epoch, num_updates)

    def alpha_at(self, epoch: int, num_updates: int) -> float:
        return self.schedule.alpha_at(epoch, num_updates)

    def rollin_at(self, epoch: int, num_updates: int, generator=None) -> Rollin:
        # the loss is a sum over positions: any row order will do
        return self.schedule.rollin_at(epoch, num_updates, generator, layout_order=True)

    def training_rollin(self, model, sample) -> Rollin:
        """The roll-in for this training batch, at the current epoch and update."""
        num_updates = getattr(model, "num_updates", 0)
        generator = None
        if self.cfg.rollin != "teacher_forcing":
            generator = self.rollin_generator(sample["target"].device, num_updates)
        rollin = self.rollin_at(self.epoch, num_updates, generator)
        if rollin.assigns_credit and rollin.feeds_model:
            # filled during the backward, which fairseq runs before it reads the logs
            rollin = replace(rollin, credit_meter=torch.zeros((), device=sample["target"].device))
        return rollin

    def rollin_generator(self, device, num_updates: int) -> torch.Generator:
        """Randomness of the coin flips and Gumbel noise for one training forward:
        :meth:`~relaxss.rollin.RollinSchedule.generator_for` this update, this
        rank and the count of this update's forwards so far (kept here).

        Never drawn from the global RNG, so dropout sees exactly the random
        numbers it sees under cross-entropy training (every row of a comparison
        shares them up to the first model-fed position); a resumed run draws the
        same numbers; ranks, and the batches of one update (``--update-freq``),
        draw different ones."""
        if num_updates != self._seeded_update:
            self._seeded_update, self._forwards_in_update = num_updates, 0
        generator = self.schedule.generator_for(
            num_updates, self._forwards_in_update, distributed_utils.get_global_rank(), device)
        self._forwards_in_update += 1
        return generator

    # -- loss --------------------------------------------------------------------------

    def check_model(self, model):
        if self.cfg.rollin != "teacher_forcing" and not getattr(model, "accepts_rollin", False):
            raise ValueError(
                f"relaxed_scheduled_sampling: --rollin {self.cfg.rollin} needs a model "
                f"that takes a roll-in (--arch lstm_relaxed, transformer_relaxed or their presets); "
                f"{type(model).__name__} does not"
            )

    def get_lprobs_and_target(self, model, net_output, sample):
        """fairseq's, for scores in any row order: a roll-in returns its ``N x V``
        rows with ``score_order`` (see ``relaxss.projection.ScoreLayout``), and the
        targets are put into that order instead (integers, not ``N x V`` scores).
        An ignored prefix becomes padding, which the loss and accuracy skip."""
        extra = net_output[1] if len(net_output) > 1 else None
        order = extra.get("score_order") if isinstance(extra, dict) else None
        if order is None:
            return super().get_lprobs_and_target(model, net_output, sample)
        lprobs = model.get_normalized_probs(net_output, log_probs=True)
        target = model.get_targets(sample, net_output)
        if self.ignore_prefix_size > 0:
            target = target.clone()
            target[:, : self.ignore_prefix_size] = self.padding_idx
        return lprobs, target.reshape(-1).index_select(0, order)

    def forward(self, model, sample, reduce=True):
        self.check_model(model)
        rollin = self.training_rollin(model, sample) if model.training else None
        if rollin is None or rollin.mode == "teacher_forcing":
            net_output = model(**sample["net_input"])
        else:
            net_output = model(**sample["net_input"], rollin=rollin)
        loss, nll_loss = self.compute_loss(model, net_output, sample, reduce=reduce)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        if rollin is not None:
            logging_output.update(self.schedule_logs(rollin, net_output, sample))
        elif not model.training and getattr(model, "accepts_rollin", False):
            logging_output["fed_nll_loss"] = self.model_fed_nll(model, sample)
        if self.report_accuracy:
            n_correct, total = self.compute_accuracy(model, net_output, sample)
            logging_output["n_correct"] = utils.item(n_correct.data)
            logging_output["total"] = utils.item(total.data)
        return loss, sample_size, logging_output

    @torch.no_grad()
    def model_fed_nll(self, model, sample) -> Tensor:
        """Validation diagnostic: the summed NLL of the gold targets when every
        position is fed the model's own greedy prediction (the model's
        ``greedy_fed_forward``), the inputs test-time decoding sees; against
        ``nll_loss`` (gold inputs) it shows how much exposure bias costs the model."""
        net_output = model.greedy_fed_forward(**sample["net_input"])
        _, nll_loss = self.compute_loss(model, net_output, sample, reduce=True)
        return nll_loss.data

    def schedule_logs(self, rollin: Rollin, net_output, sample):
        """Per-batch schedule values, weighted by target tokens so that summing
        logging outputs across workers and batches keeps them exact."""
        ntokens = sample["ntokens"]
        model_fed = 0
        extra = net_output[1] if len(net_output) > 1 else None
        if isinstance(extra, dict) and extra.get("model_fed") is not None:
            target_positions = sample["target"].ne(self.padding_idx)
            model_fed = utils.item((extra["model_fed"] & target_positions).sum())
        logs = {
            "tf_prob_x_ntokens": rollin.tf_prob * ntokens,
            "model_fed": model_fed,
            "schedule_ntokens": ntokens,
        }
        if rollin.uses_alpha:  # alpha means nothing to teacher forcing or the hard modes
            logs["alpha_x_ntokens"] = rollin.alpha * ntokens
        if rollin.credit_meter is not None:
            logs["credit_grad_sq"] = rollin.credit_meter
        return logs

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)
        if any("fed_nll_loss" in log for log in logging_outputs):  # validation
            total = sum(log.get("fed_nll_loss", 0) for log in logging_outputs)
            ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
            # base 2, as fairseq logs nll_loss
            metrics.log_scalar("fed_nll_loss", total / max(ntokens, 1) / math.log(2), ntokens,
                               round=3)
        ntokens = sum(log.get("schedule_ntokens", 0) for log in logging_outputs)
        if ntokens == 0:  # validation: no roll-in
            return
        for name, key in (("tf_prob", "tf_prob_x_ntokens"), ("alpha", "alpha_x_ntokens"),
                          ("model_fed", "model_fed")):
            if any(key in log for log in logging_outputs):
                total = sum(log.get(key, 0) for log in logging_outputs)
                metrics.log_scalar(name, total / ntokens, ntokens, round=4)
        if any("credit_grad_sq" in log for log in logging_outputs):
            # the norm of the gradient the relaxed inputs sent into the scores they were
            # made from, normalised as fairseq normalises the gradient (by sample size)
            squared = sum(float(log.get("credit_grad_sq", 0)) for log in logging_outputs)
            sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
            metrics.log_scalar("credit_gnorm", squared**0.5 / max(sample_size, 1), round=4)
