"""The step-by-step output layer must give exactly the values and gradients of
an ordinary linear layer followed by ``torch.stack``."""
import pytest
import torch
import torch.nn.functional as F

from relaxss_fairseq.core.projection import join_steps, linear_into, linear_with_known_output


def leaves(bias: bool):
    torch.manual_seed(0)
    weight = torch.randn(7, 5, requires_grad=True)
    b = torch.randn(7, requires_grad=True) if bias else None
    embedding = torch.randn(7, 5, requires_grad=True)
    start = torch.randn(3, 5, requires_grad=True)
    return weight, b, embedding, start


def unroll(weight, bias, embedding, start, steps, project):
    """A toy recurrence in which step j+1 reads a soft mixture of step j's
    scores, so every step's scores receive gradient from the loss and from the
    next step (as in a soft roll-in)."""
    features, outputs = start, []
    for j in range(steps):
        scores = project(j, features)
        outputs.append(scores)
        features = torch.tanh(features + torch.softmax(scores, -1) @ embedding)
    return outputs


@pytest.mark.parametrize("bias", [True, False])
def test_joined_steps_match_stacked_linear_layers(bias):
    steps = 4
    weight, b, embedding, start = leaves(bias)
    expected = torch.stack(
        unroll(weight, b, embedding, start, steps, lambda j, f: F.linear(f, weight, b)), dim=1
    )
    target = torch.randn_like(expected)
    wrt = [t for t in (weight, b, embedding, start) if t is not None]
    expected_grads = torch.autograd.grad((expected * target).sum(), wrt)

    buffer = torch.empty(3, steps, 7)

    def project(j, f):
        scores = linear_into(buffer[:, j], f.detach(), weight, b)
        return linear_with_known_output(scores, f, weight, b)

    joined = join_steps(buffer, unroll(weight, b, embedding, start, steps, project))
    grads = torch.autograd.grad((joined * target).sum(), wrt)
    torch.testing.assert_close(joined, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_known_output_over_all_steps_matches_a_linear_layer():
    weight, b, _, _ = leaves(True)
    features = torch.randn(3, 4, 5, requires_grad=True)
    expected = F.linear(features, weight, b)
    target = torch.randn_like(expected)
    expected_grads = torch.autograd.grad((expected * target).sum(), [features, weight, b])

    buffer = torch.empty(3, 4, 7)
    for j in range(4):
        linear_into(buffer[:, j], features[:, j].detach(), weight, b)
    scores = linear_with_known_output(buffer, features, weight, b)
    grads = torch.autograd.grad((scores * target).sum(), [features, weight, b])
    torch.testing.assert_close(scores, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_frozen_weight_gets_no_gradient_but_features_do():
    weight = torch.randn(7, 5)
    features = torch.randn(3, 5, requires_grad=True)
    known = linear_into(torch.empty(3, 7), features, weight, None)
    scores = linear_with_known_output(known, features, weight, None)
    scores.sum().backward()
    assert weight.grad is None
    torch.testing.assert_close(features.grad, weight.sum(0).expand(3, 5))


def test_join_steps_refuses_steps_held_elsewhere():
    buffer = torch.zeros(2, 3, 4)
    steps = [buffer[:, 0], buffer[:, 1], torch.zeros(2, 4)]
    with pytest.raises(ValueError, match="step 2"):
        join_steps(buffer, steps)
