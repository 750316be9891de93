"""lstm_relaxed: roll-in forward, credit assignment, inference path."""
from dataclasses import replace

import pytest
import torch

from relaxss import Rollin, draw_model_feed, relaxed_input_embedding
from relaxss.projection import in_target_order

from helpers import TinyTask, random_batch, tiny_model

SOFT_MODES = ["soft_greedy", "soft_sample"]
ST_MODES = ["st_greedy", "st_sample"]
RELAXED_MODES = SOFT_MODES + ST_MODES
HARD_MODES = ["hard_greedy", "hard_sample"]


@pytest.fixture
def task():
    return TinyTask()


def encode(model, batch):
    net_input = batch["net_input"]
    return model.encoder(net_input["src_tokens"], src_lengths=net_input["src_lengths"])


def fed_scores_of(model, batch, rollin, monkeypatch):
    """Run a roll-in forward, recording the scores each model-fed input was made
    from (those of the previous step), in step order."""
    from relaxss_fairseq.models import lstm_relaxed

    recorded = []
    original = lstm_relaxed.relaxed_input_embedding

    def recording(scores, embedding_weight, rollin, mix=None):
        recorded.append(scores)
        return original(scores, embedding_weight, rollin, mix)

    monkeypatch.setattr(lstm_relaxed, "relaxed_input_embedding", recording)
    logits, extra = model(**batch["net_input"], rollin=rollin)
    return logits, extra, recorded


def step_loss(logits, batch, t):
    lprobs = torch.log_softmax(logits[:, t], dim=-1)
    return -lprobs.gather(1, batch["target"][:, t : t + 1]).sum()


@pytest.mark.parametrize("mode", RELAXED_MODES + HARD_MODES)
def test_credit_flows_back_to_previous_scores_only_in_relaxed_modes(task, mode, monkeypatch):
    model = tiny_model(task=task)
    model.train()
    batch = random_batch(task, tgt_len=6)
    rollin = Rollin(mode, tf_prob=0.0, alpha=1.0, generator=torch.Generator().manual_seed(0))
    logits, extra, fed_from = fed_scores_of(model, batch, rollin, monkeypatch)
    assert extra["model_fed"][:, 1:].all()
    t = 3
    previous_scores = fed_from[t - 1]  # what the input of step t was made from
    loss_t = step_loss(logits, batch, t)
    if mode in RELAXED_MODES:
        (grad,) = torch.autograd.grad(loss_t, previous_scores, retain_graph=True)
        assert grad.abs().sum() > 0
    else:  # the argmax / sample is a choice: no path for gradient at all
        assert not previous_scores.requires_grad
    # and in every mode the loss reaches the parameters of the output layer
    (grad_w,) = torch.autograd.grad(loss_t, model.decoder.fc_out.weight)
    assert grad_w.abs().sum() > 0


def test_soft_greedy_at_large_alpha_feeds_what_hard_greedy_feeds(task):
    model = tiny_model(task=task).eval()
    batch = random_batch(task, batch_size=8, tgt_len=8)
    hard, _ = model(**batch["net_input"], rollin=Rollin("hard_greedy", tf_prob=0.0))
    soft, _ = model(**batch["net_input"], rollin=Rollin("soft_greedy", tf_prob=0.0, alpha=1e6))
    loose, _ = model(**batch["net_input"], rollin=Rollin("soft_greedy", tf_prob=0.0, alpha=1.0))
    torch.testing.assert_close(soft, hard, atol=1e-5, rtol=1e-4)
    assert (loose - hard).abs().max() > 1e-3  # alpha matters: the limit is not trivial


@pytest.mark.parametrize("mode", SOFT_MODES + HARD_MODES)
@pytest.mark.parametrize("out_dim", [None, 10])  # 10: through the extra output projection
def test_rollin_loop_with_all_gold_inputs_is_the_ordinary_forward(task, mode, out_dim):
    model = tiny_model(task=task, out_dim=out_dim).eval()
    batch = random_batch(task)
    encoder_out = encode(model, batch)
    prev = batch["net_input"]["prev_output_tokens"]
    expected, _ = model.decoder(prev, encoder_out=encoder_out)
    got, extra = model.decoder.rollin_forward(prev, encoder_out, Rollin(mode, tf_prob=1.0))
    assert not extra["model_fed"].any()
    torch.testing.assert_close(got, expected)


def naive_rollin(decoder, prev_output_tokens, encoder_out, rollin):
    """The roll-in as a plain loop: each step's output layer in the graph, the
    steps stacked at the end."""
    bsz, seqlen = prev_output_tokens.size()
    encoder = decoder.prepare_encoder(encoder_out)
    state = decoder.initial_state(encoder_out)
    gold = decoder.embed_tokens(prev_output_tokens)
    model_fed = draw_model_feed(bsz, seqlen, rollin.tf_prob, rollin.generator)
    steps = []
    for j in range(seqlen):
        x = gold[:, j]
        rows = model_fed[:, j].nonzero().squeeze(1)
        if len(rows):
            previous = steps[-1]
            if rollin.mode in RELAXED_MODES:  # the credit scale, by hand: value p, gradient scale
                previous = previous.detach() + rollin.credit_scale * (previous - previous.detach())
            else:
                previous = previous.detach()
            plain = replace(rollin, credit_scale=1.0)  # the gate is not what is tested here
            predicted = relaxed_input_embedding(
                previous[rows], decoder.embed_tokens.weight, plain
            )
            x = x.index_copy(0, rows, predicted)
        out, _, state = decoder.step(x, state, encoder, j)
        steps.append(decoder.output_layer(decoder.output_features(out)))
    return torch.stack(steps, dim=1)


def assert_rollin_matches_plain_loop(model, batch, rollin):
    """Values and every decoder parameter's gradient of the roll-in equal the
    plain loop's, under one fixed weighting of the scores."""
    prev = batch["net_input"]["prev_output_tokens"]
    parameters = [p for p in model.decoder.parameters() if p.requires_grad]
    results = []
    for plain in (False, True):
        rollin = replace(rollin, generator=torch.Generator().manual_seed(1))
        if plain:
            scores = naive_rollin(model.decoder, prev, encode(model, batch), rollin)
        else:
            scores, extra = model.decoder.rollin_forward(prev, encode(model, batch), rollin)
            if rollin.layout_order:
                scores = in_target_order(scores, extra["score_order"], *prev.shape)
        weights = torch.linspace(-1, 1, scores.numel()).view_as(scores)
        results.append((scores, torch.autograd.grad((scores * weights).sum(), parameters)))
    (got, got_grads), (expected, expected_grads) = results
    torch.testing.assert_close(got, expected)
    for parameter_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(parameter_grad.to_dense(), expected_grad.to_dense())


@pytest.mark.parametrize("mode", RELAXED_MODES + HARD_MODES)
@pytest.mark.parametrize("shape", ["bias", "shared_embeddings", "out_projection", "dot_attention"])
@pytest.mark.parametrize("tf_prob", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("layout_order", [False, True])
def test_rollin_gradients_equal_those_of_a_plain_loop(task, mode, shape, tf_prob, layout_order):
    """Whichever rows are projected inside the loop (the fed ones) or after it
    (the rest), in either row order, the roll-in equals a plain loop that
    projects every step in the graph."""
    model = tiny_model(task=task, init_std=0.3, out_dim=10 if shape == "out_projection" else None,
                       share_embeddings=shape == "shared_embeddings",
                       attention="dot" if shape == "dot_attention" else "additive").eval()
    batch = random_batch(task, batch_size=8, tgt_len=7)
    assert_rollin_matches_plain_loop(
        model, batch, Rollin(mode, tf_prob=tf_prob, alpha=3.0, layout_order=layout_order))


@pytest.mark.parametrize("mode", RELAXED_MODES)
@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0])
def test_credit_scale_equals_a_plain_loop_that_scales_the_credit(task, mode, scale):
    """Scale 0 is the detached roll-in (soft inputs, no credit), 1 the paper's
    gradients; values never change."""
    model = tiny_model(task=task, init_std=0.3).eval()
    batch = random_batch(task, batch_size=8, tgt_len=7)
    assert_rollin_matches_plain_loop(
        model, batch, Rollin(mode, tf_prob=0.3, alpha=3.0, credit_scale=scale))


def test_detached_rollin_sends_no_gradient_into_earlier_scores(task, monkeypatch):
    model = tiny_model(task=task).train()
    batch = random_batch(task, tgt_len=6)
    rollin = Rollin("soft_greedy", tf_prob=0.0, alpha=1.0, credit_scale=0.0,
                    generator=torch.Generator().manual_seed(0))
    logits, _, fed_from = fed_scores_of(model, batch, rollin, monkeypatch)
    assert not any(scores.requires_grad for scores in fed_from)
    # but the mixture still trains the embeddings it mixes
    (grad,) = torch.autograd.grad(step_loss(logits, batch, 3), model.decoder.embed_tokens.weight)
    assert grad.abs().sum() > 0


def test_straight_through_greedy_feeds_exactly_what_hard_greedy_feeds(task):
    model = tiny_model(task=task).eval()
    batch = random_batch(task, batch_size=8, tgt_len=8)
    outputs = [model(**batch["net_input"], rollin=Rollin(
        mode, tf_prob=0.4, alpha=2.0, generator=torch.Generator().manual_seed(5)))[0]
        for mode in ("hard_greedy", "st_greedy", "soft_greedy")]
    hard, st, soft = outputs
    assert torch.equal(st, hard)
    assert (soft - hard).abs().max() > 1e-3


@pytest.mark.parametrize("mode", RELAXED_MODES)
def test_credit_meter_grows_with_alpha(task, mode):
    """The squared norm of the gradient through the relaxed inputs is measured in
    the backward; a more peaked softmax passes more of it at these scores."""
    model = tiny_model(task=task, init_std=0.1).train()
    batch = random_batch(task, batch_size=8, tgt_len=8)
    measured = []
    for alpha in (0.1, 1.0):
        meter = torch.zeros(())
        rollin = Rollin(mode, tf_prob=0.0, alpha=alpha, credit_meter=meter,
                        generator=torch.Generator().manual_seed(5))
        logits, _ = model(**batch["net_input"], rollin=rollin)
        assert meter.item() == 0.0  # filled by the backward
        torch.log_softmax(logits, -1).sum().backward()
        measured.append(meter.item())
    assert 0 < measured[0] < measured[1]


def test_model_fed_fraction_follows_tf_prob(task):
    model = tiny_model(task=task).train()
    batch = random_batch(task, batch_size=64, tgt_len=12)
    rollin = Rollin("hard_greedy", tf_prob=0.25, generator=torch.Generator().manual_seed(3))
    _, extra = model(**batch["net_input"], rollin=rollin)
    fraction = extra["model_fed"][:, 1:].float().mean().item()
    assert abs(fraction - 0.75) < 0.05


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_incremental_decoding_matches_the_full_forward(task, attention):
    model = tiny_model(task=task, attention=attention).eval()
    batch = random_batch(task)
    encoder_out = encode(model, batch)
    prev = batch["net_input"]["prev_output_tokens"]
    full, _ = model.decoder(prev, encoder_out=encoder_out)
    state = {}
    steps = [
        model.decoder(prev[:, : j + 1], encoder_out=encoder_out, incremental_state=state)[0]
        for j in range(prev.size(1))
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_beam_search_generates(task):
    from fairseq.sequence_generator import SequenceGenerator

    model = tiny_model(task=task).eval()
    batch = random_batch(task, batch_size=3)
    generator = SequenceGenerator([model], task.target_dictionary, beam_size=3, max_len_b=8)
    hypos = generator.generate([model], batch)
    assert len(hypos) == 3 and all(len(h) == 3 for h in hypos)
    assert all(h[0]["tokens"][-1] == task.target_dictionary.eos() for h in hypos)


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_reordering_the_incremental_state_follows_the_beam(task, attention):
    """After reorder_incremental_state (what beam search does), decoding goes on
    exactly as if the reordered batch had been decoded from the start."""
    model = tiny_model(task=task, attention=attention).eval()
    batch = random_batch(task, batch_size=5)
    encoder_out = encode(model, batch)
    prev = batch["net_input"]["prev_output_tokens"]
    order = torch.tensor([4, 0, 0, 2, 1])
    expected, _ = model.decoder(prev[order], encoder_out=model.encoder.reorder_encoder_out(encoder_out, order))

    state = {}
    for j in range(3):
        model.decoder(prev[:, : j + 1], encoder_out=encoder_out, incremental_state=state)
    model.decoder.reorder_incremental_state(state, order)
    reordered_out = model.encoder.reorder_encoder_out(encoder_out, order)
    steps = [
        model.decoder(prev[order, : j + 1], encoder_out=reordered_out, incremental_state=state)[0]
        for j in range(3, prev.size(1))
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), expected[:, 3:])


@pytest.mark.parametrize("mode", SOFT_MODES + HARD_MODES)
def test_each_sentence_is_fed_by_its_own_coin_flips(task, mode):
    """Sentences never fed from the model get exactly the teacher-forced
    scores; sentences that were fed from the model do not."""
    model = tiny_model(task=task).eval()
    batch = random_batch(task, batch_size=64, tgt_len=5)
    rollin = Rollin(mode, tf_prob=0.6, alpha=3.0, generator=torch.Generator().manual_seed(2))
    logits, extra = model(**batch["net_input"], rollin=rollin)
    reference, _ = model(**batch["net_input"])
    target_positions = batch["target"].ne(task.target_dictionary.pad())
    fed = (extra["model_fed"] & target_positions).any(dim=1)
    assert 0 < fed.sum() < 64
    gold_only = ~fed.unsqueeze(1) & target_positions  # padding positions may differ: no loss there
    torch.testing.assert_close(logits[gold_only], reference[gold_only])
    assert ((logits[fed] - reference[fed]).abs().amax(dim=(1, 2)) > 1e-6).all()
