"""The relaxations of argmax (paper §3.1, §3.2) and the coin flips."""
import pytest
import torch
from scipy import stats

from relaxss import (
    Rollin,
    draw_model_feed,
    feed_model_predictions,
    gumbel_from_uniform,
    gumbel_soft_embedding,
    hard_greedy_embedding,
    hard_sample_embedding,
    soft_argmax_embedding,
)

V, D = 7, 5


@pytest.fixture
def embedding():
    return torch.randn(V, D, generator=torch.Generator().manual_seed(0))


def test_soft_argmax_tends_to_hard_argmax_as_alpha_grows(embedding):
    scores = torch.randn(32, V, generator=torch.Generator().manual_seed(1))
    hard = hard_greedy_embedding(scores, embedding)
    errors = [
        (soft_argmax_embedding(scores, embedding, alpha) - hard).abs().max().item()
        for alpha in (1.0, 10.0, 1e3, 1e6)
    ]
    assert errors[0] > 1e-2
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6


def test_soft_argmax_is_the_softmax_mixture_at_alpha_one(embedding):
    scores = torch.randn(3, V)
    expected = torch.softmax(scores, -1) @ embedding
    torch.testing.assert_close(soft_argmax_embedding(scores, embedding, 1.0), expected)


def test_gumbel_noise_is_finite_at_the_ends_of_the_unit_interval():
    g = gumbel_from_uniform(torch.tensor([0.0, 1.0, 0.5]))
    assert torch.isfinite(g).all()
    assert g[0] < g[2] < g[1]


@pytest.mark.parametrize("alpha", [1.0, 1e3, 1e6])
def test_relaxations_stay_finite_for_fp16_scores_and_huge_alpha(embedding, alpha):
    scores = (torch.randn(16, V) * 60).half()  # large fp16 scores
    for out in (
        soft_argmax_embedding(scores, embedding, alpha),
        gumbel_soft_embedding(scores, embedding, alpha, torch.Generator().manual_seed(0)),
    ):
        assert torch.isfinite(out).all()


def fed_token_counts(embed_fn, scores, n):
    """Which one-hot row each of ``n`` draws selected, counted per token."""
    onehot = torch.eye(V)
    weights = embed_fn(scores.expand(n, V), onehot)
    return torch.bincount(weights.argmax(-1), minlength=V).double(), weights


def test_gumbel_soft_at_large_alpha_feeds_tokens_with_softmax_frequencies():
    scores = torch.tensor([[2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5]])
    n = 20000
    generator = torch.Generator().manual_seed(1234)
    counts, weights = fed_token_counts(
        lambda s, e: gumbel_soft_embedding(s, e, 1e4, generator), scores, n
    )
    assert (weights.max(-1).values > 0.99).float().mean() > 0.99  # one-hot at large alpha
    expected = torch.softmax(scores[0].double(), -1) * n
    assert stats.chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3
    # the test has power: the same counts are far from a uniform distribution
    assert stats.chisquare(counts.numpy(), torch.full((V,), n / V).numpy()).pvalue < 1e-6


def test_hard_sample_feeds_tokens_with_softmax_frequencies():
    scores = torch.tensor([[0.0, 2.0, 1.0, -1.0, 0.5, 0.0, -2.0]])
    n = 20000
    generator = torch.Generator().manual_seed(99)
    counts, _ = fed_token_counts(lambda s, e: hard_sample_embedding(s, e, generator), scores, n)
    expected = torch.softmax(scores[0].double(), -1) * n
    assert stats.chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("mode", ["hard_greedy", "hard_sample"])
def test_hard_choices_pass_no_gradient_to_scores(embedding, mode):
    scores = torch.randn(4, V, requires_grad=True)
    if mode == "hard_greedy":
        out = hard_greedy_embedding(scores, embedding)
    else:
        out = hard_sample_embedding(scores, embedding, torch.Generator().manual_seed(0))
    assert not out.requires_grad


@pytest.mark.parametrize("mode", ["soft_greedy", "soft_sample"])
def test_soft_choices_pass_gradient_to_scores(embedding, mode):
    scores = torch.randn(4, V, requires_grad=True)
    if mode == "soft_greedy":
        out = soft_argmax_embedding(scores, embedding, 2.0)
    else:
        out = gumbel_soft_embedding(scores, embedding, 2.0, torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad(out.sum() ** 2, scores)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["soft_greedy", "soft_sample"])
def test_soft_choices_have_the_textbook_values_and_gradients(embedding, mode):
    """``softmax(alpha * (s + G)) @ E`` (G = 0 for greedy), differentiated by autograd
    without any of the in-place or floor tricks."""
    alpha = 3.0
    scores = torch.randn(4, V, requires_grad=True)
    embedding = embedding.clone().requires_grad_(True)
    weights = torch.randn(4, D)
    if mode == "soft_greedy":
        got = soft_argmax_embedding(scores, embedding, alpha)
        noise = torch.zeros(4, V)
    else:
        got = gumbel_soft_embedding(scores, embedding, alpha, torch.Generator().manual_seed(0))
        noise = gumbel_from_uniform(torch.rand(4, V, generator=torch.Generator().manual_seed(0)))
    expected = torch.softmax(alpha * (scores + noise), dim=-1) @ embedding
    torch.testing.assert_close(got, expected)
    got_grads = torch.autograd.grad((got * weights).sum(), [scores, embedding])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [scores, embedding])
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e)


def test_coin_flips_never_replace_the_first_input_and_follow_tf_prob():
    generator = torch.Generator().manual_seed(0)
    feed = draw_model_feed(400, 50, 0.3, generator)
    assert not feed[:, 0].any()
    assert abs(feed[:, 1:].float().mean().item() - 0.7) < 0.01
    assert not draw_model_feed(5, 5, 1.0).any()
    assert draw_model_feed(5, 5, 0.0)[:, 1:].all()


@pytest.mark.parametrize("shape", [(6,), (4, 5)])
@pytest.mark.parametrize("use_index", [False, True])
def test_feeding_predictions_replaces_the_fed_positions_in_row_major_order(shape, use_index):
    """Values: the fed positions take the rows of ``predicted`` in order, the
    others keep gold; gradients: each position's goes to where its input came from."""
    generator = torch.Generator().manual_seed(3)
    gold = torch.randn(*shape, D, generator=generator, requires_grad=True)
    fed = torch.rand(shape, generator=generator) < 0.5
    fed.view(-1)[:2] = torch.tensor([True, False])  # some of each
    predicted = torch.randn(int(fed.sum()), D, generator=generator, requires_grad=True)
    index = fed.reshape(-1).nonzero().squeeze(1) if use_index else None

    mixed = feed_model_predictions(gold, predicted, fed, index)
    expected = gold.detach().clone()
    for row, position in enumerate(fed.reshape(-1).nonzero().squeeze(1).tolist()):
        expected.view(-1, D)[position] = predicted.detach()[row]
    assert torch.equal(mixed, expected)

    weights = torch.randn(mixed.shape, generator=generator)
    grad_gold, grad_predicted = torch.autograd.grad((mixed * weights).sum(), [gold, predicted])
    torch.testing.assert_close(grad_gold, weights * ~fed.unsqueeze(-1), rtol=0, atol=0)
    torch.testing.assert_close(grad_predicted, weights[fed], rtol=0, atol=0)


def test_feeding_every_position_or_none_passes_one_input_through():
    gold = torch.randn(3, 4, D, requires_grad=True)
    everywhere = torch.ones(3, 4, dtype=torch.bool)
    predicted = torch.randn(3, 4, D, requires_grad=True)
    assert feed_model_predictions(gold, predicted, everywhere) is predicted
    rows = torch.randn(12, D, requires_grad=True)
    mixed = feed_model_predictions(gold, rows, everywhere)
    assert torch.equal(mixed, rows.view(3, 4, D))
    assert torch.equal(torch.autograd.grad(mixed.sum(), rows)[0], torch.ones(12, D))
    nowhere = torch.zeros(3, 4, dtype=torch.bool)
    assert feed_model_predictions(gold, gold.new_empty(0, D), nowhere) is gold
    with pytest.raises(ValueError, match="expected gold's positions"):
        feed_model_predictions(gold, rows, everywhere[0])
    with pytest.raises(ValueError, match="rows of size"):
        feed_model_predictions(gold, torch.randn(12, D + 1), everywhere)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="argmax"), "unknown roll-in mode"),
        (dict(mode="soft_greedy", tf_prob=1.5), "tf_prob"),
        (dict(mode="soft_greedy", alpha=0.0), "alpha"),
    ],
)
def test_rollin_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rollin(**kwargs)


def test_top_k_mixture_is_exact_for_k_equal_vocab_and_bounded_otherwise(embedding):
    scores = torch.randn(16, V, generator=torch.Generator().manual_seed(5)) * 3
    exact = soft_argmax_embedding(scores, embedding, 2.0)
    torch.testing.assert_close(soft_argmax_embedding(scores, embedding, 2.0, top_k=V), exact)
    approx = soft_argmax_embedding(scores, embedding, 2.0, top_k=3)
    probs = torch.softmax(scores * 2.0, -1)
    outside_mass = 1 - probs.topk(3, -1).values.sum(-1)
    bound = 2 * embedding.norm(dim=-1).max() * outside_mass
    assert ((approx - exact).norm(dim=-1) <= bound + 1e-6).all()
    assert (approx - exact).abs().max() > 1e-4  # it is an approximation at small alpha
    peaked = soft_argmax_embedding(scores, embedding, 1e3, top_k=2)
    torch.testing.assert_close(peaked, soft_argmax_embedding(scores, embedding, 1e3))


def test_top_k_gumbel_soft_mixes_the_top_perturbed_scores(embedding):
    scores = torch.randn(8, V)
    full = gumbel_soft_embedding(scores, embedding, 1e4, torch.Generator().manual_seed(3))
    top = gumbel_soft_embedding(scores, embedding, 1e4, torch.Generator().manual_seed(3), top_k=2)
    torch.testing.assert_close(top, full)


def test_peaked_softmax_produces_no_subnormal_weights():
    """Subnormal floats make CPU matrix products many times slower."""
    from relaxss.relax import peaked_softmax

    scores = torch.randn(64, 5000, generator=torch.Generator().manual_seed(0)) * 3
    tiny = torch.finfo(torch.float32).tiny
    for alpha in (1.0, 10.0, 1e3, 1e6):
        for logits in (scores * alpha, (scores + gumbel_from_uniform(torch.rand(scores.shape))) * alpha):
            weights = peaked_softmax(logits)
            assert ((weights == 0) | (weights >= tiny)).all()
            torch.testing.assert_close(weights, torch.softmax(logits, -1), atol=1e-12, rtol=1e-5)


# -- straight-through roll-ins and the credit gate --------------------------------------


def test_straight_through_greedy_feeds_the_argmax_and_takes_the_soft_argmax_gradient(embedding):
    from relaxss import straight_through_greedy_embedding

    scores = torch.randn(6, V, generator=torch.Generator().manual_seed(3), requires_grad=True)
    weights = torch.randn(6, D, generator=torch.Generator().manual_seed(4))
    st = straight_through_greedy_embedding(scores, embedding, alpha=2.0)
    assert torch.equal(st, hard_greedy_embedding(scores, embedding).to_dense())  # exactly
    (grad,) = torch.autograd.grad((st * weights).sum(), scores)
    soft = soft_argmax_embedding(scores, embedding, alpha=2.0)
    (expected,) = torch.autograd.grad((soft * weights).sum(), scores)
    torch.testing.assert_close(grad, expected)
    assert grad.abs().sum() > 0

    # the gradient is the soft argmax's by finite differences (the forward is piecewise
    # constant: its own finite differences are zero almost everywhere)
    def soft_objective(s):  # float32 inside: a step of 1e-2 keeps rounding below 1e-4
        return (soft_argmax_embedding(s, embedding, 2.0).double() * weights.double()).sum()

    s0, eps = scores.detach(), 1e-2
    for i, y in [(0, 0), (2, 3), (5, 6)]:
        bumped = s0.clone()
        bumped[i, y] += eps
        lowered = s0.clone()
        lowered[i, y] -= eps
        numeric = (soft_objective(bumped) - soft_objective(lowered)) / (2 * eps)
        assert abs(numeric.item() - grad[i, y].item()) < 2e-3 * max(1.0, abs(grad[i, y].item()))


def test_straight_through_sample_feeds_the_gumbel_max_sample_of_its_own_noise(embedding):
    from relaxss import gumbel_noise, straight_through_sample_embedding

    scores = torch.randn(6, V, generator=torch.Generator().manual_seed(3), requires_grad=True)
    weights = torch.randn(6, D)
    st = straight_through_sample_embedding(scores, embedding, 5.0, torch.Generator().manual_seed(9))
    noise = gumbel_noise(scores, torch.Generator().manual_seed(9))
    sample = (scores.detach() + noise).max(dim=-1).indices
    assert torch.equal(st, embedding[sample])  # what a hard Gumbel-max sample feeds
    (grad,) = torch.autograd.grad((st * weights).sum(), scores)
    soft = gumbel_soft_embedding(scores, embedding, 5.0, torch.Generator().manual_seed(9))
    (expected,) = torch.autograd.grad((soft * weights).sum(), scores)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("scale", [0.0, 0.25, 1.0, 3.0])
def test_credit_gate_scales_and_measures_the_gradient_into_the_scores(embedding, scale):
    from relaxss import credit_gate

    scores = torch.randn(4, V, requires_grad=True)
    weights = torch.randn(4, D)
    meter = torch.zeros(())
    gated = credit_gate(scores, scale, meter)
    torch.testing.assert_close(gated, scores, rtol=0, atol=0)  # the values are untouched
    mixed = soft_argmax_embedding(gated, embedding, 2.0)
    if scale == 0:  # no credit: the mixture is cut off from the scores
        assert not mixed.requires_grad
        return
    (mixed * weights).sum().backward()
    (ungated,) = torch.autograd.grad(
        (soft_argmax_embedding(scores, embedding, 2.0) * weights).sum(), scores)
    torch.testing.assert_close(scores.grad, scale * ungated)
    torch.testing.assert_close(meter, (scale * ungated).pow(2).sum())
