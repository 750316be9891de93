"""transformer_relaxed: the multi-pass roll-in against stock fairseq and hand-built oracles."""
import argparse
import copy

import pytest
import torch
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.models.transformer import TransformerModel

from helpers import TinyTask, criterion_for, random_batch
from relaxss import RELAXED_MODES, ROLLIN_MODES, Rollin
from relaxss_fairseq.models.transformer_relaxed import RelaxedTransformerModel


def transformer_args(**overrides):
    args = argparse.Namespace(
        encoder_embed_dim=16, encoder_ffn_embed_dim=32, encoder_layers=2,
        encoder_attention_heads=2, decoder_embed_dim=16, decoder_ffn_embed_dim=32,
        decoder_layers=2, decoder_attention_heads=2, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, share_decoder_input_output_embed=False,
        share_all_embeddings=False,
    )
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def tiny_transformer(seed=0, task=None, model_class=RelaxedTransformerModel, **overrides):
    """A 2-layer, 16-unit transformer_relaxed (or, with ``model_class``, fairseq's)."""
    torch.manual_seed(seed)
    return model_class.build_model(transformer_args(**overrides), task or TinyTask())


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def sum_of_scores_loss(scores):
    # weights that differ by position and class, so no gradient cancels by symmetry
    weights = torch.linspace(-1.0, 1.0, scores.numel()).view_as(scores)
    return (scores * weights).sum()


def test_presets_mirror_fairseqs():
    assert ARCH_MODEL_REGISTRY["transformer_relaxed"] is RelaxedTransformerModel
    for name in ("transformer_relaxed_iwslt_de_en", "transformer_relaxed_wmt_en_de",
                 "transformer_relaxed_vaswani_wmt_en_de_big", "transformer_relaxed_tiny"):
        assert ARCH_MODEL_REGISTRY[name] is RelaxedTransformerModel, name
    from fairseq.models import ARCH_CONFIG_REGISTRY
    ours, theirs = argparse.Namespace(), argparse.Namespace()
    ARCH_CONFIG_REGISTRY["transformer_relaxed_iwslt_de_en"](ours)
    ARCH_CONFIG_REGISTRY["transformer_iwslt_de_en"](theirs)
    assert ours.rollin_passes == 2 and ours.first_pass_grad is True
    assert {k: v for k, v in vars(ours).items() if k not in ("rollin_passes", "first_pass_grad")} \
        == vars(theirs)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("share", ["none", "decoder_io"])
def test_gold_rollin_equals_stock_transformer_and_label_smoothed_ce(label_smoothing, share):
    """tf_prob = 1: same loss and every gradient as fairseq's transformer +
    label_smoothed_cross_entropy, with dropout on and the same seed."""
    task = TinyTask()
    overrides = dict(dropout=0.2, attention_dropout=0.1,
                     share_decoder_input_output_embed=share == "decoder_io")
    ours = tiny_transformer(seed=3, task=task, **overrides)
    stock = tiny_transformer(seed=3, task=task, model_class=TransformerModel, **overrides)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in stock.named_parameters()]
    for a, b in zip(ours.parameters(), stock.parameters()):
        assert torch.equal(a, b)
    sample = random_batch(task, seed=1)
    relaxed = criterion_for(task, rollin="soft_greedy", label_smoothing=label_smoothing)
    reference = LabelSmoothedCrossEntropyCriterion(task, sentence_avg=False,
                                                   label_smoothing=label_smoothing)
    ours.train(), stock.train()
    assert relaxed.tf_prob_at(relaxed.epoch, 0) == 1.0  # the gold warm-up epoch
    torch.manual_seed(11)
    loss, _, log = relaxed(ours, sample)
    loss.backward()
    torch.manual_seed(11)
    expected, _, _ = reference(stock, sample)
    expected.backward()
    assert log["model_fed"] == 0
    assert torch.allclose(loss, expected, rtol=1e-6, atol=1e-6)
    for (name, a), b in zip(ours.named_parameters(), stock.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7), name


def with_predictions(tokens, scores, fed, pad):
    """``tokens`` with each fed real position replaced by the argmax of ``scores`` at the
    position before it. Padded positions keep their padding: a right-padded sentence's
    real positions never attend to them, so only real positions are compared."""
    fed = fed[:, 1:] & tokens[:, 1:].ne(pad)
    chosen = scores.argmax(-1)[:, :-1][fed]
    # a predicted padding token would be masked and positioned as padding by the stock
    # decoder, unlike a fed prediction: the oracle holds only without one
    assert chosen.ne(pad).all()
    tokens = tokens.clone()
    tokens[:, 1:][fed] = chosen
    return tokens


def test_hard_greedy_two_passes_equal_stock_decoder_on_predicted_tokens():
    """Oracle: with two passes, hard greedy feeds position j the argmax of pass 1's
    scores at j - 1; that is the stock decoder run on those tokens."""
    task = TinyTask()
    model = tiny_transformer(task=task).eval()
    sample = random_batch(task, seed=2)
    net_input = sample["net_input"]
    tokens, pad = net_input["prev_output_tokens"], task.target_dictionary.pad()
    rollin = Rollin("hard_greedy", tf_prob=0.4, generator=generator(5))
    scores, extra = model(**net_input, rollin=rollin)
    fed = extra["model_fed"]
    assert fed.any() and not fed[:, 0].any()

    gold_scores, _ = model(**net_input)  # pass 1: gold prefix
    fed_tokens = with_predictions(tokens, gold_scores, fed, pad)
    assert not torch.equal(fed_tokens, tokens)
    expected, _ = model(net_input["src_tokens"], net_input["src_lengths"], fed_tokens)
    real = tokens.ne(pad)
    assert torch.allclose(scores[real], expected[real], atol=1e-5)


def test_validation_feeds_greedy_decoding_step_by_step_not_passes():
    """fed_nll_loss's forward is greedy decoding run for the gold length. Oracle: the
    stock full-sequence decoder on each greedy prefix, one position at a time (no
    incremental state); a 2-pass roll-in with every position fed differs from it."""
    task = TinyTask()
    model = tiny_transformer(task=task).eval()
    batch = random_batch(task, seed=2)
    net_input = batch["net_input"]
    src, lengths, tokens = (net_input["src_tokens"], net_input["src_lengths"],
                            net_input["prev_output_tokens"])
    scores, _ = model.greedy_fed_forward(**net_input)

    prefix, expected = tokens[:, :1], []
    for _ in range(tokens.size(1)):
        step, _ = model(src, lengths, prefix)
        expected.append(step[:, -1])
        prefix = torch.cat([prefix, step[:, -1].argmax(-1, keepdim=True)], dim=1)
    expected = torch.stack(expected, dim=1)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.equal(scores.argmax(-1), expected.argmax(-1))

    two_passes, _ = model(**net_input, rollin=Rollin("hard_greedy", tf_prob=0.0,
                                                     generator=generator(0)))
    assert not torch.allclose(two_passes, expected, atol=1e-3)

    criterion = criterion_for(task, rollin="teacher_forcing", label_smoothing=0.1)
    _, _, logs = criterion(model, batch)
    target = batch["target"]
    lprobs = torch.log_softmax(expected, -1)
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1).masked_fill(
        target.eq(task.target_dictionary.pad()), 0.0).sum()
    torch.testing.assert_close(logs["fed_nll_loss"], nll, atol=1e-4, rtol=1e-5)


def test_three_passes_feed_each_pass_from_the_previous_one():
    task = TinyTask()
    model = tiny_transformer(task=task, rollin_passes=3).eval()
    sample = random_batch(task, seed=4)
    net_input = sample["net_input"]
    gold, pad = net_input["prev_output_tokens"], task.target_dictionary.pad()
    scores, extra = model(**net_input, rollin=Rollin("hard_greedy", tf_prob=0.0,
                                                     generator=generator(1)))
    fed = extra["model_fed"]
    assert len(extra["rollin_scores"]) == 2
    tokens = gold
    for _ in range(2):  # passes 1 and 2 each choose the next pass's inputs
        pass_scores, _ = model(net_input["src_tokens"], net_input["src_lengths"], tokens)
        tokens = with_predictions(gold, pass_scores, fed, pad)
    expected, _ = model(net_input["src_tokens"], net_input["src_lengths"], tokens)
    real = gold.ne(pad)
    assert torch.allclose(scores[real], expected[real], atol=1e-5)


@pytest.mark.parametrize("mode", RELAXED_MODES)
def test_first_pass_gradient_reaches_pass_one_scores_only_when_on(mode):
    task = TinyTask()
    sample = random_batch(task, seed=3)
    grads = {}
    for on in (True, False):
        model = tiny_transformer(task=task, first_pass_grad=on)
        rollin = Rollin(mode, tf_prob=0.3, alpha=2.0, generator=generator(7))
        scores, extra = model(**sample["net_input"], rollin=rollin)
        (first,) = extra["rollin_scores"]
        assert first.requires_grad is on
        loss = sum_of_scores_loss(scores)
        if on:
            (credit,) = torch.autograd.grad(loss, first, retain_graph=True)
            assert credit.abs().sum() > 0
        loss.backward()
        grads[on] = {n: p.grad.clone() for n, p in model.named_parameters()}
        # the mixture's product with E is in the graph either way
        assert grads[on]["decoder.embed_tokens.weight"].abs().sum() > 0
    differs = [n for n in grads[True] if not torch.allclose(grads[True][n], grads[False][n])]
    assert differs, "the credit through pass 1 changed no gradient"


def test_first_pass_grad_off_equals_credit_scale_zero():
    task = TinyTask()
    sample = random_batch(task, seed=5)
    results = []
    for first_pass_grad, scale in ((False, 1.0), (True, 0.0)):
        model = tiny_transformer(task=task, first_pass_grad=first_pass_grad)
        rollin = Rollin("soft_greedy", tf_prob=0.2, alpha=3.0, generator=generator(2),
                        credit_scale=scale)
        scores, _ = model(**sample["net_input"], rollin=rollin)
        sum_of_scores_loss(scores).backward()
        results.append((scores.detach(), [p.grad.clone() for p in model.parameters()]))
    (s0, g0), (s1, g1) = results
    assert torch.equal(s0, s1)
    for a, b in zip(g0, g1):
        assert torch.allclose(a, b, atol=1e-6)


def test_straight_through_forward_equals_hard_and_gradient_reaches_pass_one():
    task = TinyTask()
    model = tiny_transformer(task=task)
    sample = random_batch(task, seed=6)
    hard, _ = model(**sample["net_input"], rollin=Rollin("hard_greedy", tf_prob=0.3,
                                                         generator=generator(3)))
    st, extra = model(**sample["net_input"], rollin=Rollin("st_greedy", tf_prob=0.3, alpha=2.0,
                                                           generator=generator(3)))
    assert torch.equal(hard, st)
    (credit,) = torch.autograd.grad(sum_of_scores_loss(st), extra["rollin_scores"][0])
    assert credit.abs().sum() > 0


def test_soft_greedy_mixes_embeddings_through_the_token_input_path():
    """alpha -> inf: soft greedy feeds the argmax embedding, so it equals hard greedy
    (the mixture passes embed_scale and positions like a looked-up token)."""
    task = TinyTask()
    model = tiny_transformer(task=task).eval()
    sample = random_batch(task, seed=8)
    hard, _ = model(**sample["net_input"], rollin=Rollin("hard_greedy", tf_prob=0.0,
                                                         generator=generator(4)))
    soft, _ = model(**sample["net_input"], rollin=Rollin("soft_greedy", tf_prob=0.0, alpha=1e6,
                                                         generator=generator(4)))
    assert torch.allclose(hard, soft, atol=1e-4)


@pytest.mark.parametrize("mode", [m for m in ROLLIN_MODES if m != "teacher_forcing"])
def test_every_mode_trains_through_the_criterion(mode):
    task = TinyTask()
    model = tiny_transformer(task=task, dropout=0.1)
    criterion = criterion_for(task, rollin=mode, teacher_forcing_k=1.0, label_smoothing=0.1)
    criterion.set_epoch(3)
    model.train()
    loss, _, log = criterion(model, random_batch(task, seed=9))
    loss.backward()
    assert torch.isfinite(loss)
    assert log["model_fed"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("passes", [0, 1])
def test_fewer_than_two_passes_is_refused_naming_the_option(passes):
    with pytest.raises(ValueError, match="--rollin-passes must be >= 2"):
        tiny_transformer(rollin_passes=passes)


def test_adaptive_softmax_is_refused():
    with pytest.raises(ValueError, match="--adaptive-softmax-cutoff"):
        tiny_transformer(adaptive_softmax_cutoff="5")


def test_without_rollin_it_is_the_stock_forward():
    task = TinyTask()
    ours = tiny_transformer(seed=1, task=task).eval()
    stock = tiny_transformer(seed=1, task=task, model_class=TransformerModel).eval()
    sample = random_batch(task, seed=10)
    a, _ = ours(**sample["net_input"])
    b, _ = stock(**sample["net_input"])
    assert torch.equal(a, b)
    c, extra = ours(**sample["net_input"], rollin=Rollin("soft_greedy", tf_prob=1.0))
    assert torch.equal(a, c) and "model_fed" not in extra


def test_model_copies_keep_the_roll_in_settings():
    model = tiny_transformer(rollin_passes=3, first_pass_grad=False)
    clone = copy.deepcopy(model)
    assert (clone.decoder.rollin_passes, clone.decoder.first_pass_grad) == (3, False)
