"""Make a ``fairseq-train`` run that resumes from its last checkpoint train exactly as
the uninterrupted run would have.

fairseq seeds every update with ``--seed`` + the update number "so that we get
reproducible results when resuming from checkpoints" (``Trainer._set_seed``), but three
other pieces of state are lost when fairseq 0.12 resumes, and each changes the training
(stock ``lstm`` + ``cross_entropy`` on the toy task, 4 epochs straight vs 2 + 2 resumed;
tests/test_exact_resume.py):

1. **Batches.** An uninterrupted run keeps the batches it made at epoch 1 (the task
   caches its batch iterator and only reshuffles their order, with seed + epoch); a
   resumed run makes new ones at the epoch it resumes in (``make_batches`` seeds the
   length-sorted order with seed + epoch). Same sentences, other batch mates: train loss
   5.222 vs 5.223 at epoch 4 without dropout, 5.230 vs 5.239 with dropout 0.2; on Multi30k (CE, resumed at epoch 10) greedy
   dev BLEU 33.49 vs 32.72. Fix: a resumed run rebuilds its batches as of epoch 1, where
   fairseq would have kept them (not for sharded data, ``--update-epoch-batch-itr`` or
   tasks that rebuild batches each epoch: there both runs make them at every epoch).
2. **The last plateau step.** ``fairseq-train`` writes the end-of-epoch checkpoint before
   it hands that epoch's dev score to the learning-rate scheduler
   (``validate_and_save``, then ``trainer.lr_step(epoch, valid_losses[0])``), and
   ``reduce_lr_on_plateau`` saves neither that step nor its count of bad epochs
   (fairseq PR #4071, not merged). A resumed run's learning rate lags: with
   ``--lr-threshold 0.5 --lr-shrink 0.5`` it trained epoch 3 at 0.005 instead of 0.0025.
   Fix: the scheduler's state keeps ``num_bad_epochs`` (and ``cooldown_counter``), and a
   run resumed from an end-of-epoch checkpoint makes the ``lr_step`` the checkpoint was
   written before, with the dev score the checkpoint holds (``extra_state["val_loss"]``).
3. **Early stopping.** ``--patience`` counts validations without improvement in
   attributes of ``fairseq_cli.train.should_stop_early``, which no checkpoint holds: a
   resumed run starts counting again from its first validation, so it can train up to
   ``--patience`` epochs longer. Fix: the count and the best score go into the
   checkpoint's ``extra_state`` and come back with it (unless ``--reset-meters`` or
   ``--reset-optimizer``, as for fairseq's own best score, or the checkpoint is
   ``--finetune-from-model``'s starting point).

Each fix wraps fairseq's function and calls it; nothing of fairseq is copied. Runs that
are never interrupted are not changed in any way.
"""
import functools
import os
import sys

from fairseq import checkpoint_utils
from fairseq.file_io import PathManager
from fairseq.optim.lr_scheduler.reduce_lr_on_plateau import ReduceLROnPlateauLRSchedule
from fairseq.trainer import Trainer

EARLY_STOP_KEY = "should_stop_early"  # extra_state entry: {"best": ..., "num_runs": ...}
PLATEAU_COUNTERS = ("num_bad_epochs", "cooldown_counter")


def _wraps(owner, name):
    """Replace ``owner.name`` by the decorated function, which receives the original.
    Once only: wrapping twice (a second import of this file) would replay a step twice."""
    original = getattr(owner, name)

    def decorate(wrapper):
        if getattr(original, "exact_resume_wrapper", False):
            return original

        @functools.wraps(original)
        def patched(*args, **kwargs):
            return wrapper(original, *args, **kwargs)

        patched.exact_resume_wrapper = True
        setattr(owner, name, patched)
        return patched

    return decorate


# --- 1. batches ---------------------------------------------------------------------

def batches_kept_across_epochs(trainer, passthrough_args) -> bool:
    """Whether an uninterrupted fairseq-train run keeps its epoch-1 batches (see
    ``FairseqTask.get_batch_iterator``: a cached iterator, batches made once)."""
    task = trainer.task
    dataset = task.dataset(trainer.cfg.dataset.train_subset)
    return not (
        passthrough_args.get("disable_iterator_cache", False)
        or task.has_sharded_data(trainer.cfg.dataset.train_subset)
        or trainer.cfg.dataset.update_epoch_batch_itr
        or getattr(task.cfg, "rebuild_batches", False)
        or not task.can_reuse_epoch_itr(dataset)
    )


def iterator_with_first_epoch_batches(trainer, itr_state, passthrough_args):
    """The training iterator positioned at ``itr_state``, over the batches made at
    epoch 1 (those the uninterrupted run trains on in every epoch)."""
    task = trainer.task
    task.dataset_to_epoch_iter.pop(task.dataset(trainer.cfg.dataset.train_subset), None)
    epoch_itr = trainer.get_train_iterator(epoch=1, load_dataset=False, **passthrough_args)
    epoch_itr.load_state_dict(itr_state)
    return epoch_itr


# --- 3. early stopping --------------------------------------------------------------

def early_stopping_functions():
    """fairseq-train's ``should_stop_early``, under the name its module runs as
    (``fairseq_cli.train`` from the console script, ``__main__`` with ``python -m``)."""
    found = []
    for name in ("fairseq_cli.train", "__main__"):
        function = getattr(sys.modules.get(name), "should_stop_early", None)
        if function is not None and function not in found:
            found.append(function)
    return found


def early_stopping_state():
    """``should_stop_early``'s best score and count, or None before any validation."""
    for function in early_stopping_functions():
        if getattr(function, "best", None) is not None:
            return {"best": function.best, "num_runs": function.num_runs}
    return None


def restore_early_stopping(state) -> None:
    """Give ``should_stop_early`` the best score and count a checkpoint holds."""
    for function in early_stopping_functions():
        function.best, function.num_runs = state["best"], state["num_runs"]


# --- the wrappers -------------------------------------------------------------------

@_wraps(ReduceLROnPlateauLRSchedule, "state_dict")
def plateau_state_dict(original, self):
    state = original(self)
    for counter in PLATEAU_COUNTERS:
        state[counter] = getattr(self.lr_scheduler, counter)
    return state


@_wraps(ReduceLROnPlateauLRSchedule, "load_state_dict")
def plateau_load_state_dict(original, self, state_dict):
    original(self, state_dict)
    for counter in PLATEAU_COUNTERS:
        if counter in state_dict:  # checkpoints written without this module lack them
            setattr(self.lr_scheduler, counter, state_dict[counter])


@_wraps(Trainer, "state_dict")
def trainer_state_dict(original, self):
    state = original(self)
    early_stopping = early_stopping_state()
    if early_stopping is not None:
        state["extra_state"][EARLY_STOP_KEY] = early_stopping
    return state


@_wraps(Trainer, "load_checkpoint")
def trainer_load_checkpoint(original, self, filename, reset_optimizer=False,
                            reset_lr_scheduler=False, *args, **kwargs):
    extra_state = original(self, filename, reset_optimizer, reset_lr_scheduler, *args, **kwargs)
    itr_state = (extra_state or {}).get("train_iterator", {})
    written_at_epoch_end = itr_state.get("version", 1) >= 2 and itr_state.get(
        "iterations_in_epoch") == 0
    if written_at_epoch_end and not (reset_optimizer or reset_lr_scheduler):
        # the step fairseq-train made just after writing this checkpoint
        self.lr_step(itr_state["epoch"] - 1, extra_state.get("val_loss"))
    return extra_state


def starts_finetuning(cfg, trainer) -> bool:
    """Whether this load is --finetune-from-model's first launch, for which fairseq's
    ``load_checkpoint`` turns every --reset-* option on (it does not say so in ``cfg``)."""
    last = os.path.join(cfg.save_dir, f"checkpoint_last{trainer.checkpoint_suffix}.pt")
    return (cfg.finetune_from_model is not None and cfg.restore_file == "checkpoint_last.pt"
            and not PathManager.exists(last))


@_wraps(checkpoint_utils, "load_checkpoint")
def load_checkpoint(original, cfg, trainer, **passthrough_args):
    finetuning = starts_finetuning(cfg, trainer)  # before the load: it checks for files
    extra_state, epoch_itr = original(cfg, trainer, **passthrough_args)
    if extra_state is None or finetuning:
        return extra_state, epoch_itr
    if (not cfg.reset_dataloader and epoch_itr.epoch > 1
            and batches_kept_across_epochs(trainer, passthrough_args)):
        epoch_itr = iterator_with_first_epoch_batches(
            trainer, extra_state["train_iterator"], passthrough_args)
    if EARLY_STOP_KEY in extra_state and not (cfg.reset_optimizer or cfg.reset_meters):
        restore_early_stopping(extra_state[EARLY_STOP_KEY])
    return extra_state, epoch_itr
