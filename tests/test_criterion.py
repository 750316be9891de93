"""relaxed_scheduled_sampling: loss, schedule, metrics and refusals."""
import math

import pytest
import torch
from fairseq.criterions.cross_entropy import CrossEntropyCriterion
from fairseq.logging import metrics

from helpers import TinyTask, criterion_for, random_batch, tiny_model

MODES = ["teacher_forcing", "hard_greedy", "hard_sample", "soft_greedy", "soft_sample"]


@pytest.fixture
def task():
    return TinyTask()


@pytest.mark.parametrize("mode", MODES)
def test_full_teacher_forcing_equals_fairseq_cross_entropy(task, mode):
    """In the gold warm-up epoch every mode is teacher forcing: same loss and
    same gradients as fairseq's own cross_entropy on the same model and batch,
    dropout included (the roll-in's randomness leaves the global RNG alone)."""
    model = tiny_model(task=task, dropout=0.3).train()
    batch = random_batch(task)
    ours = criterion_for(task, rollin=mode)
    reference = CrossEntropyCriterion(task, sentence_avg=False)

    torch.manual_seed(5)  # fairseq re-seeds before every update
    loss, sample_size, logs = ours(model, batch)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.manual_seed(5)
    ref_loss, ref_sample_size, _ = reference(model, batch)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))

    torch.testing.assert_close(loss, ref_loss)
    assert sample_size == ref_sample_size
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
    assert logs["model_fed"] == 0
    assert logs["tf_prob_x_ntokens"] == logs["schedule_ntokens"]


@pytest.mark.parametrize("mode", ["teacher_forcing", "soft_greedy"])
def test_dot_attention_model_is_fairseqs_lstm(task, mode):
    """With --decoder-attention-type dot a stock fairseq ``lstm``'s parameters load
    strictly, and in the gold warm-up the loss and every gradient equal stock
    ``lstm`` + ``cross_entropy``: the roll-in is the only difference, so the
    benchmark can compare against stock lstm like for like.  Dropout is off: the
    stock decoder also draws a (never used) dropout mask for its last layer's
    output, so with dropout on the masks differ, not their distribution."""
    import argparse

    from fairseq.models.lstm import LSTMModel

    from relaxss_fairseq.models.lstm_relaxed import RelaxedLSTMModel, lstm_relaxed_paper_mt

    args = argparse.Namespace(
        encoder_embed_dim=16, encoder_hidden_size=16, decoder_embed_dim=16,
        decoder_hidden_size=16, decoder_out_embed_dim=16, decoder_attention_type="dot",
        dropout=0.0, criterion="cross_entropy")
    lstm_relaxed_paper_mt(args)
    torch.manual_seed(0)
    stock = LSTMModel.build_model(args, task).train()
    ours = RelaxedLSTMModel.build_model(args, task).train()
    ours.load_state_dict(stock.state_dict(), strict=True)
    batch = random_batch(task)

    results = []
    for model, criterion in ((ours, criterion_for(task, rollin=mode)),
                             (stock, CrossEntropyCriterion(task, sentence_avg=False))):
        torch.manual_seed(5)
        loss, _, _ = criterion(model, batch)
        results.append((loss, torch.autograd.grad(loss, list(model.parameters()))))
    (loss, grads), (ref_loss, ref_grads) = results
    torch.testing.assert_close(loss, ref_loss)
    ref_grad_of = dict(zip((name for name, _ in stock.named_parameters()), ref_grads))
    for (name, _), grad in zip(ours.named_parameters(), grads):
        torch.testing.assert_close(grad, ref_grad_of[name], msg=name)


def test_after_warmup_the_model_feeds_itself_and_the_loss_differs(task):
    model = tiny_model(task=task).train()
    batch = random_batch(task, batch_size=16)
    criterion = criterion_for(task, rollin="soft_greedy", teacher_forcing_schedule="always")
    criterion.set_epoch(2)
    loss, _, logs = criterion(model, batch)
    ref_loss, _, _ = CrossEntropyCriterion(task, sentence_avg=False)(model, batch)
    fed_positions = batch["target"].ne(task.target_dictionary.pad())[:, 1:].sum().item()
    assert logs["model_fed"] == fed_positions
    assert not torch.isclose(loss, ref_loss)


def test_schedule_follows_epochs_announced_to_the_task(task):
    criterion = criterion_for(task, rollin="soft_sample", teacher_forcing_k=1.0,
                              alpha=2.0, alpha_anneal_rate=3.0, alpha_max=40.0)
    task.begin_epoch(3, model=None)  # what fairseq's Trainer.begin_epoch does
    assert task.epochs_begun == [3] and criterion.epoch == 3
    rollin = criterion.rollin_at(criterion.epoch, num_updates=0)
    assert rollin.tf_prob == pytest.approx(1 / (1 + math.e**2))
    assert rollin.alpha == pytest.approx(18.0)
    assert criterion.rollin_at(5, 0).alpha == 40.0  # 2 * 3^4 = 162, capped


def test_gold_warmup_epochs(task):
    criterion = criterion_for(task, teacher_forcing_k=1.0, gold_warmup_epochs=2)
    assert [criterion.tf_prob_at(e, 0) for e in (1, 2)] == [1.0, 1.0]
    assert criterion.tf_prob_at(3, 0) == pytest.approx(1 / (1 + math.e**2))
    no_warmup = criterion_for(task, teacher_forcing_k=1.0, gold_warmup_epochs=0)
    assert no_warmup.tf_prob_at(1, 0) == pytest.approx(0.5)


def test_schedule_in_updates(task):
    criterion = criterion_for(task, schedule_unit="update", teacher_forcing_k=100.0,
                              alpha=1.0, alpha_anneal_rate=1.01)
    assert criterion.tf_prob_at(2, 300) == pytest.approx(100 / (100 + math.exp(3)))
    assert criterion.alpha_at(2, 300) == pytest.approx(1.01**300)
    assert criterion.tf_prob_at(1, 300) == 1.0  # still the gold warm-up epoch


@pytest.mark.parametrize("mode", ["hard_greedy", "soft_sample"])
def test_metrics_are_logged_under_their_names(task, mode):
    """tf_prob and model_fed always; alpha only where it shapes the input."""
    model = tiny_model(task=task).train()
    criterion = criterion_for(task, rollin=mode, teacher_forcing_schedule="constant",
                              teacher_forcing_start=0.5, alpha=7.0)
    criterion.set_epoch(2)
    logs = [criterion(model, random_batch(task, seed=s))[2] for s in range(2)]
    with metrics.aggregate(new_root=True) as agg:
        criterion.reduce_metrics(logs)
    values = agg.get_smoothed_values()
    assert values["tf_prob"] == 0.5
    assert 0.2 < values["model_fed"] < 0.8
    assert {"loss", "nll_loss", "ppl"} <= set(values)
    if mode == "soft_sample":
        assert values["alpha"] == 7.0
    else:
        assert "alpha" not in values


@pytest.mark.parametrize(
    "settings, warned",
    [
        (dict(rollin="hard_greedy", alpha_anneal_rate=2.0), "--alpha-anneal-rate 2.0"),
        (dict(rollin="teacher_forcing", alpha_max=50.0), "--alpha-max 50.0"),
        (dict(rollin="hard_sample", relax_top_k=8), "--relax-top-k 8"),
        (dict(rollin="soft_greedy", alpha_max=50.0), "--alpha-max 50.0"),
    ],
)
def test_options_without_effect_are_warned_once(task, caplog, settings, warned):
    with caplog.at_level("WARNING"):
        criterion_for(task, **settings)
    messages = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(messages) == 1 and warned in messages[0]


def test_options_with_effect_are_not_warned(task, caplog):
    with caplog.at_level("WARNING"):
        criterion_for(task, rollin="soft_greedy", alpha=1.0, alpha_anneal_rate=2.0,
                      alpha_max=50.0, relax_top_k=8)
    assert not [r for r in caplog.records if "ignoring" in r.getMessage()]


def test_validation_uses_no_rollin_and_logs_no_schedule(task):
    model = tiny_model(task=task).eval()
    criterion = criterion_for(task, rollin="soft_sample", teacher_forcing_schedule="always")
    criterion.set_epoch(5)
    loss, _, logs = criterion(model, random_batch(task))
    reference, _, _ = CrossEntropyCriterion(task, sentence_avg=False)(model, random_batch(task))
    torch.testing.assert_close(loss, reference)  # validation scores gold inputs
    assert "model_fed" not in logs
    with metrics.aggregate(new_root=True) as agg:
        criterion.reduce_metrics([logs])
    assert "tf_prob" not in agg.get_smoothed_values()


def test_validation_logs_the_nll_under_always_model_fed_greedy_inputs(task):
    """fed_nll_loss: the dev NLL when every input is the model's own greedy
    prediction, the inputs of test-time decoding; any mode logs it."""
    from relaxss import Rollin

    model = tiny_model(task=task).eval()
    batch = random_batch(task, batch_size=8)
    criterion = criterion_for(task, rollin="teacher_forcing")
    _, _, logs = criterion(model, batch)
    scores, _ = model(**batch["net_input"], rollin=Rollin("hard_greedy", tf_prob=0.0))
    lprobs = torch.log_softmax(scores, -1)
    target = batch["target"]
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1).masked_fill(
        target.eq(task.target_dictionary.pad()), 0.0).sum()
    torch.testing.assert_close(logs["fed_nll_loss"], nll)
    assert abs(logs["fed_nll_loss"] - logs["nll_loss"]) > 1e-3  # not the gold-input loss
    with metrics.aggregate(new_root=True) as agg:
        criterion.reduce_metrics([logs])
    values = agg.get_smoothed_values()
    assert values["fed_nll_loss"] == pytest.approx(nll.item() / logs["ntokens"] / math.log(2), abs=1e-3)
    # and training batches do not pay for it
    _, _, train_logs = criterion(model.train(), batch)
    assert "fed_nll_loss" not in train_logs


def test_roll_in_randomness_differs_by_rank_update_and_batch_but_resumes(task, monkeypatch):
    from fairseq.distributed import utils as distributed_utils

    def draws(rank, updates):
        """A fresh criterion (as after a restart) on ``rank``, one forward per
        entry of ``updates``: the numbers each forward's generator gives."""
        monkeypatch.setattr(distributed_utils, "get_global_rank", lambda: rank)
        criterion = criterion_for(task, rollin="soft_sample")
        return [torch.rand(8, generator=criterion.rollin_generator("cpu", n)) for n in updates]

    global_state = torch.get_rng_state()
    first, second_batch, next_update = draws(0, [100, 100, 101])
    (other_rank,) = draws(1, [100])
    (resumed,) = draws(0, [100])
    assert torch.equal(resumed, first)
    for other in (second_batch, next_update, other_rank):
        assert not torch.equal(other, first)
    assert torch.equal(torch.get_rng_state(), global_state)  # dropout's numbers untouched


@pytest.mark.parametrize(
    "settings, option",
    [
        (dict(alpha=0.0), "--alpha"),
        (dict(alpha=-1.0), "--alpha"),
        (dict(alpha_anneal_rate=0.0), "--alpha-anneal-rate"),
        (dict(alpha_max=0.0), "--alpha-max"),
        (dict(alpha=10.0, alpha_max=5.0), "--alpha-max \\(5.0\\) must be >= --alpha \\(10.0\\)"),
        (dict(teacher_forcing_k=0.0), "--teacher-forcing-k"),
        (dict(teacher_forcing_k=-3.0), "--teacher-forcing-k"),
        (dict(teacher_forcing_start=1.2), "--teacher-forcing-start"),
        (dict(teacher_forcing_min=-0.1), "--teacher-forcing-min"),
        (dict(teacher_forcing_rate=1.5), "--teacher-forcing-rate"),
        (dict(teacher_forcing_slope=-1.0), "--teacher-forcing-slope"),
        (dict(gold_warmup_epochs=-1), "--gold-warmup-epochs"),
        (dict(relax_top_k=-1), "--relax-top-k"),
        (dict(label_smoothing=1.0), "--label-smoothing"),
        (dict(rollin="argmax"), "--rollin"),
        (dict(teacher_forcing_schedule="cosine"), "--teacher-forcing-schedule"),
        (dict(schedule_unit="step"), "--schedule-unit"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(task, settings, option):
    with pytest.raises(ValueError, match=option):
        criterion_for(task, **settings)


def test_a_model_without_rollin_is_refused(task):
    from fairseq.models.lstm import LSTMModel, base_architecture
    import argparse

    args = argparse.Namespace(criterion="cross_entropy")
    base_architecture(args)
    stock = LSTMModel.build_model(args, task).train()
    with pytest.raises(ValueError, match="--rollin soft_greedy needs a model"):
        criterion_for(task, rollin="soft_greedy")(stock, random_batch(task))
    # teacher forcing needs no roll-in: any fairseq model trains with it
    loss, _, _ = criterion_for(task, rollin="teacher_forcing")(stock, random_batch(task))
    assert torch.isfinite(loss)


@pytest.mark.parametrize("mode", ["hard_sample", "soft_greedy"])
def test_loss_on_scores_in_layout_order_equals_fairseqs_on_target_order(task, mode):
    """The criterion takes the roll-in's scores in the order they were computed
    and reorders the targets instead: loss, nll, accuracy and gradients equal
    fairseq's label-smoothed criterion on the same scores in B x T x V order,
    an ignored prefix included."""
    from dataclasses import replace

    from fairseq.criterions.label_smoothed_cross_entropy import (
        LabelSmoothedCrossEntropyCriterion,
    )

    model = tiny_model(task=task).train()
    batch = random_batch(task, batch_size=8)
    settings = dict(label_smoothing=0.1, ignore_prefix_size=1, report_accuracy=True)
    ours = criterion_for(task, rollin=mode, teacher_forcing_schedule="constant",
                         teacher_forcing_start=0.5, **settings)
    ours.set_epoch(2)
    loss, _, logs = ours(model, batch)
    grads = torch.autograd.grad(loss, list(model.parameters()))

    ours._seeded_update = None  # draw the same roll-in again, in target order
    rollin = replace(ours.training_rollin(model, batch), layout_order=False)
    net_output = model(**batch["net_input"], rollin=rollin)
    assert net_output[0].shape[:2] == batch["target"].shape
    reference = LabelSmoothedCrossEntropyCriterion(task, sentence_avg=False, **settings)
    ref_loss, ref_nll = reference.compute_loss(model, net_output, batch)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))
    n_correct, total = reference.compute_accuracy(model, net_output, batch)

    assert 0 < logs["model_fed"]
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(logs["nll_loss"], ref_nll.data)
    assert (logs["n_correct"], logs["total"]) == (n_correct.item(), total.item())
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


# -- --teacher-forcing-final: the schedule stated by where it ends -----------------------


@pytest.mark.parametrize("schedule", ["inverse_sigmoid", "linear", "exponential"])
def test_final_tf_prob_is_reached_at_the_last_update(task, schedule):
    criterion = criterion_for(task, teacher_forcing_final=0.3, schedule_unit="update",
                              max_update=3000, teacher_forcing_schedule=schedule)
    assert criterion.tf_prob_at(5, 3000) == pytest.approx(0.3, abs=1e-9)
    assert criterion.tf_prob_at(5, 1500) > 0.3
    assert criterion.tf_prob_at(1, 3000) == 1.0  # the gold warm-up epoch is gold regardless


@pytest.mark.parametrize("schedule", ["inverse_sigmoid", "linear", "exponential"])
def test_final_tf_prob_holds_for_the_whole_last_epoch(task, schedule):
    criterion = criterion_for(task, teacher_forcing_final=0.3, schedule_unit="epoch",
                              max_epoch=10, teacher_forcing_schedule=schedule)
    # the last epoch (10) runs at t = 9 completed epochs, whatever the update count
    assert criterion.tf_prob_at(10, 0) == pytest.approx(0.3, abs=1e-9)
    assert criterion.tf_prob_at(10, 123456) == pytest.approx(0.3, abs=1e-9)
    assert criterion.tf_prob_at(9, 0) > 0.3
    assert criterion.tf_prob_at(1, 0) == 1.0


def test_inverse_sigmoid_final_stores_the_derived_k(task):
    criterion = criterion_for(task, teacher_forcing_final=0.5, schedule_unit="update",
                              max_update=3000)
    k = criterion.schedule.decay["k"]
    assert k == pytest.approx(485.0957, abs=1e-3)
    assert criterion.tf_prob_at(3, 1000) == pytest.approx(k / (k + math.exp(1000 / k)))
    # a pure function of (epoch, num_updates): asking again, or out of order, changes nothing
    assert criterion.tf_prob_at(3, 1000) == criterion.tf_prob_at(3, 1000)


@pytest.mark.parametrize("unit, lengths, raw_k", [("update", (2000, 50000), 500.0),
                                                  ("epoch", (5, 40), 5.0)])
def test_same_final_value_at_any_run_length(task, unit, lengths, raw_k):
    """The point of the option: one P means the same end point for short and long runs,
    where one raw k does not."""
    ends, raw_k_ends = [], []
    for length in lengths:
        limits = {"max_update": length} if unit == "update" else {"max_epoch": length}
        criterion = criterion_for(task, teacher_forcing_final=0.25, schedule_unit=unit, **limits)
        last = (3, length) if unit == "update" else (length, 0)
        ends.append(criterion.tf_prob_at(*last))
        raw_k_ends.append(criterion_for(task, schedule_unit=unit, teacher_forcing_k=raw_k,
                                        **limits).tf_prob_at(*last))
    assert ends == pytest.approx([0.25, 0.25], abs=1e-9)
    assert abs(raw_k_ends[0] - raw_k_ends[1]) > 0.1


@pytest.mark.parametrize("unit, at, later_end", [("epoch", 24, 32), ("update", 3000, 5000)])
def test_final_at_keeps_a_schedule_stated_for_a_shorter_run(task, unit, at, later_end):
    """--teacher-forcing-final-at: runs of a schedule stated by its end, trained on to a later
    cap, keep that schedule (the decay of a run that ends at ``at``), which decays on past
    it; without it the decay would be derived again for the later end."""
    limit = "max_update" if unit == "update" else "max_epoch"
    stated = criterion_for(task, teacher_forcing_final=0.9, schedule_unit=unit,
                           gold_warmup_epochs=5, **{limit: at})
    kept = criterion_for(task, teacher_forcing_final=0.9, teacher_forcing_final_at=at,
                         schedule_unit=unit, gold_warmup_epochs=5, **{limit: later_end})
    derived_again = criterion_for(task, teacher_forcing_final=0.9, schedule_unit=unit,
                                  gold_warmup_epochs=5, **{limit: later_end})
    assert kept.schedule.decay == stated.schedule.decay  # the same k, to the last bit
    assert kept.schedule.decay["k"] != derived_again.schedule.decay["k"]
    points = [(e, 0) for e in range(1, later_end + 1)] if unit == "epoch" else [
        (6, u) for u in range(0, later_end + 1, 250)]
    assert [kept.tf_prob_at(*p) for p in points] == [stated.tf_prob_at(*p) for p in points]
    end = (at, 0) if unit == "epoch" else (6, at)
    assert kept.tf_prob_at(*end) == pytest.approx(0.9, abs=1e-9)
    last = (later_end, 0) if unit == "epoch" else (6, later_end)
    assert kept.tf_prob_at(*last) < 0.9 < derived_again.tf_prob_at(*last) + 1e-9


def test_final_at_needs_no_run_length_and_is_said_to_be_ignored_without_final(task, caplog):
    unlimited = criterion_for(task, teacher_forcing_final=0.5, teacher_forcing_final_at=3000,
                              schedule_unit="update", max_update=0)
    assert unlimited.tf_prob_at(3, 3000) == pytest.approx(0.5, abs=1e-9)
    # a sweep passes it to every row, cross-entropy's too: said, not refused
    with caplog.at_level("WARNING"):
        criterion_for(task, rollin="teacher_forcing", teacher_forcing_final_at=24, max_epoch=32)
    assert [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()] == [
        "relaxed_scheduled_sampling: ignoring --teacher-forcing-final-at 24 (where "
        "--teacher-forcing-final holds, which is not given)"]


def test_derived_value_is_logged_once_at_start_up(task, caplog):
    with caplog.at_level("INFO"):
        criterion_for(task, teacher_forcing_final=0.5, schedule_unit="update", max_update=3000)
        criterion_for(task, teacher_forcing_final=0.2, schedule_unit="epoch", max_epoch=10,
                      teacher_forcing_schedule="exponential")
    messages = [r.getMessage() for r in caplog.records if "--teacher-forcing-final" in r.getMessage()]
    assert messages == [
        "relaxed_scheduled_sampling: --teacher-forcing-final 0.5 at update 3000: "
        "inverse_sigmoid k = 485.096",
        "relaxed_scheduled_sampling: --teacher-forcing-final 0.2 at epoch 10 "
        f"(t = 9 completed epochs): exponential rate = {0.2 ** (1 / 9):.6g}",
    ]


def test_without_final_nothing_is_derived(task, caplog):
    with caplog.at_level("INFO"):
        criterion = criterion_for(task, teacher_forcing_k=7.0, max_update=3000)
    assert criterion.schedule.decay == {"k": 7.0, "slope": 0.1, "rate": 0.9}
    assert not [r for r in caplog.records if "--teacher-forcing-final" in r.getMessage()]


@pytest.mark.parametrize(
    "settings, message",
    [
        # no run length in the chosen unit (the other unit's limit does not count)
        (dict(schedule_unit="update", max_update=0, max_epoch=10),
         "--teacher-forcing-final needs the run length.*--max-update"),
        (dict(schedule_unit="epoch", max_update=3000, max_epoch=0),
         "--teacher-forcing-final needs the run length.*--max-epoch"),
        # schedules with no decay
        (dict(teacher_forcing_schedule="constant"),
         "--teacher-forcing-final has no meaning for --teacher-forcing-schedule constant"),
        (dict(teacher_forcing_schedule="always"),
         "--teacher-forcing-final has no meaning for --teacher-forcing-schedule always"),
        # outside (0, 1)
        (dict(teacher_forcing_final=0.0), "--teacher-forcing-final .*\\(0, 1\\), got 0.0"),
        (dict(teacher_forcing_final=1.0), "--teacher-forcing-final .*\\(0, 1\\), got 1.0"),
        (dict(teacher_forcing_final=-0.5), "--teacher-forcing-final .*\\(0, 1\\)"),
        # ambiguous: the parameter it derives given as well
        (dict(teacher_forcing_k=100.0),
         "--teacher-forcing-final 0.3 and --teacher-forcing-k 100.0 both set"),
        # given equal to its default still counts as given
        (dict(teacher_forcing_k=10.0),
         "--teacher-forcing-final 0.3 and --teacher-forcing-k 10.0 both set"),
        (dict(teacher_forcing_schedule="exponential", teacher_forcing_rate=0.9),
         "--teacher-forcing-final 0.3 and --teacher-forcing-rate 0.9 both set"),
        (dict(teacher_forcing_schedule="linear", teacher_forcing_slope=0.01),
         "--teacher-forcing-final 0.3 and --teacher-forcing-slope 0.01 both set"),
        (dict(teacher_forcing_schedule="exponential", teacher_forcing_rate=0.99),
         "--teacher-forcing-final 0.3 and --teacher-forcing-rate 0.99 both set"),
        # never reached
        (dict(schedule_unit="epoch", max_epoch=1),
         "--max-epoch 1\\) is a gold warm-up epoch"),
        (dict(schedule_unit="epoch", max_epoch=1, gold_warmup_epochs=0),
         "--teacher-forcing-final needs time to decay: --max-epoch 1"),
        (dict(schedule_unit="epoch", max_epoch=30, teacher_forcing_final_at=1),
         "--teacher-forcing-final-at 1\\) is a gold warm-up epoch"),
        (dict(teacher_forcing_final_at=0), "--teacher-forcing-final-at is the epoch .*> 0, got 0"),
        (dict(teacher_forcing_final_at=-5), "--teacher-forcing-final-at .*> 0, got -5"),
        (dict(teacher_forcing_min=0.5), "--teacher-forcing-final 0.3 lies below the floor "
         "--teacher-forcing-min 0.5"),
        (dict(teacher_forcing_schedule="linear", teacher_forcing_start=0.2),
         "--teacher-forcing-final 0.3 must be <= --teacher-forcing-start 0.2"),
    ],
)
def test_bad_final_settings_are_refused_naming_the_options(task, settings, message):
    settings = {"teacher_forcing_final": 0.3, "schedule_unit": "update", "max_update": 3000,
                **settings}
    with pytest.raises(ValueError, match=message):
        criterion_for(task, **settings)


def test_a_config_built_outside_fairseq_has_no_run_length(task):
    """The interpolations ${optimization.max_update} / max_epoch left unresolved
    (a config built by hand, not by fairseq) read as no limit."""
    from relaxss_fairseq.criterions.relaxed_scheduled_sampling import (
        RelaxedScheduledSamplingConfig,
        RelaxedScheduledSamplingCriterion,
    )

    config = RelaxedScheduledSamplingConfig(sentence_avg=False, seed=1, teacher_forcing_final=0.3)
    assert config.max_update == "${optimization.max_update}"
    with pytest.raises(ValueError, match="needs the run length.*--max-epoch"):
        RelaxedScheduledSamplingCriterion(config, task)
    # without --teacher-forcing-final the run length is never read
    RelaxedScheduledSamplingCriterion(
        RelaxedScheduledSamplingConfig(sentence_avg=False, seed=1), task)


def test_credit_gradient_norm_is_logged_in_relaxed_modes_only(task):
    """credit_gnorm: the norm of the gradient the relaxed inputs send into earlier
    scores, filled in by the backward that fairseq runs before it reduces the logs;
    zero with the credit cut, absent where there is no relaxation."""
    values = {}
    for mode, scale in (("soft_greedy", 1.0), ("st_sample", 1.0), ("soft_greedy", 0.0),
                        ("hard_greedy", 1.0)):
        model = tiny_model(task=task).train()
        criterion = criterion_for(task, rollin=mode, teacher_forcing_schedule="constant",
                                  teacher_forcing_start=0.3, credit_scale=scale)
        criterion.set_epoch(2)
        loss, _, logs = criterion(model, random_batch(task, batch_size=8))
        loss.backward()
        with metrics.aggregate(new_root=True) as agg:
            criterion.reduce_metrics([logs])
        values[mode, scale] = agg.get_smoothed_values().get("credit_gnorm")
    assert values["soft_greedy", 1.0] > 0 and values["st_sample", 1.0] > 0
    assert values["soft_greedy", 0.0] is None  # no credit: nothing flows, nothing is logged
    assert values["hard_greedy", 1.0] is None
