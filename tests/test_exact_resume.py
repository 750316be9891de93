"""relaxss_fairseq.exact_resume: a fairseq-train run interrupted at an epoch's end and
resumed from checkpoint_last.pt trains exactly as the uninterrupted run (stock ``lstm``
and ``cross_entropy``: the fixes are fairseq's, not the criterion's)."""
import pytest

from conftest import USER_DIR, run_cli
from test_cli import epoch_stats, inner_records

TINY_LSTM = [
    "--arch", "lstm", "--encoder-embed-dim", "24", "--encoder-hidden-size", "24",
    "--decoder-embed-dim", "24", "--decoder-hidden-size", "24", "--decoder-out-embed-dim", "24",
]
# Every epoch counts as "not better": maximizing the dev loss, which falls. So the plateau
# scheduler halves the rate after the 2nd bad epoch (--lr-patience 1: after epoch 3) and
# early stopping ends the run after the 3rd (--patience 3: after epoch 4).
PLATEAU_AND_PATIENCE = [
    "--maximize-best-checkpoint-metric", "--lr-scheduler", "reduce_lr_on_plateau",
    "--lr-shrink", "0.5", "--lr-patience", "1", "--patience", "3",
]


def train(data_bin, save_dir, *extra, max_epoch, log_interval=1000):
    """fairseq-train of the tiny stock lstm with dropout; ``extra`` after the rest."""
    return run_cli(
        "train", str(data_bin), "--user-dir", USER_DIR, *TINY_LSTM,
        "--criterion", "cross_entropy", "--dropout", "0.2", "--optimizer", "adam",
        "--lr", "0.005", "--max-tokens", "800", "--max-epoch", str(max_epoch),
        "--save-dir", str(save_dir), "--cpu", "--seed", "3", "--no-progress-bar",
        "--log-format", "json", "--log-interval", str(log_interval), *extra,
    )


def test_a_resumed_run_equals_the_uninterrupted_one(toy_data_bin, tmp_path):
    straight = epoch_stats(train(toy_data_bin, tmp_path / "straight", *PLATEAU_AND_PATIENCE,
                                 max_epoch=6))
    assert sorted(straight) == [1, 2, 3, 4]  # early stopping ended it
    assert [straight[e]["train_lr"] for e in (3, 4)] == [0.005, 0.0025]

    first = epoch_stats(train(toy_data_bin, tmp_path / "resumed", *PLATEAU_AND_PATIENCE,
                              max_epoch=3))
    resumed = epoch_stats(train(toy_data_bin, tmp_path / "resumed", *PLATEAU_AND_PATIENCE,
                                max_epoch=6))
    assert {**first, **resumed}.keys() == straight.keys()  # stopped where it did
    for epoch in resumed:
        # the same batches (loss), learning rate (plateau) and updates, to the digit
        for key in ("train_loss", "train_lr", "train_gnorm", "train_num_updates"):
            assert resumed[epoch][key] == straight[epoch][key], (epoch, key)


def test_a_run_resumed_in_mid_epoch_trains_on_the_same_batches(toy_data_bin, tmp_path):
    """A checkpoint written inside an epoch (--save-interval-updates; 5 updates an epoch,
    stopped at update 6): the resumed run goes on with the same batches, update by update."""
    def run(save_dir, *extra):
        log = train(toy_data_bin, save_dir, "--save-interval-updates", "3", *extra,
                    max_epoch=3, log_interval=1)
        return {int(r["num_updates"]): r["loss"] for r in inner_records(log)}

    straight = run(tmp_path / "straight")
    run(tmp_path / "resumed", "--max-update", "6")
    resumed = run(tmp_path / "resumed")
    assert sorted(resumed) == list(range(7, 16))
    assert resumed == {update: straight[update] for update in resumed}


@pytest.mark.parametrize("reset", ["--reset-lr-scheduler", "--reset-meters"])
def test_a_reset_still_resets(toy_data_bin, tmp_path, reset):
    """fairseq's --reset-* options keep their meaning: no plateau step is replayed
    after --reset-lr-scheduler, no early-stopping count comes back after --reset-meters."""
    train(toy_data_bin, tmp_path, *PLATEAU_AND_PATIENCE, max_epoch=2)
    resumed = epoch_stats(train(toy_data_bin, tmp_path, *PLATEAU_AND_PATIENCE, reset, max_epoch=6))
    if reset == "--reset-lr-scheduler":  # bad epochs counted afresh from epoch 3: no halving
        assert sorted(resumed) == [3, 4]  # (early stopping still counts from epoch 1)
        assert [resumed[e]["train_lr"] for e in (3, 4)] == [0.005, 0.005]
    else:  # the early-stopping count restarts at epoch 3: stops after epoch 6, not 4
        assert sorted(resumed) == [3, 4, 5, 6]


def test_finetuning_starts_its_own_early_stopping(toy_data_bin, tmp_path):
    """--finetune-from-model's first launch resets everything (fairseq): the early-stopping
    count of the run it starts from (2 bad epochs of 3) does not come with the weights."""
    train(toy_data_bin, tmp_path / "pretrained", *PLATEAU_AND_PATIENCE, max_epoch=3)
    log = train(toy_data_bin, tmp_path / "finetuned", *PLATEAU_AND_PATIENCE, "--finetune-from-model",
                str(tmp_path / "pretrained" / "checkpoint_last.pt"), max_epoch=6)
    assert sorted(epoch_stats(log)) == [1, 2, 3, 4]  # best at 1, then 3 bad epochs


def test_a_second_import_does_not_wrap_again():
    import importlib

    from fairseq import checkpoint_utils
    from fairseq.trainer import Trainer

    from relaxss_fairseq import exact_resume

    before = (Trainer.load_checkpoint, Trainer.state_dict, checkpoint_utils.load_checkpoint)
    importlib.reload(exact_resume)
    assert (Trainer.load_checkpoint, Trainer.state_dict, checkpoint_utils.load_checkpoint) == before
