"""The step-by-step output layer must give exactly the values and gradients of
an ordinary linear layer followed by ``torch.stack``."""
import pytest
import torch
import torch.nn.functional as F

from relaxss.projection import (
    RowBlockProjection,
    in_target_order,
    linear_into,
    linear_with_known_output,
    score_layout,
)


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

    buffer = torch.empty(steps * 3, 7)  # step j's rows: 3j .. 3j + 2
    projection = RowBlockProjection(buffer, weight, b)
    features = []

    def project(j, f):
        features.append(f)
        return projection.block(3 * j, 3 * j + 3, f)

    joined = projection.join(unroll(weight, b, embedding, start, steps, project), torch.cat(features))
    joined = joined.view(steps, 3, 7).transpose(0, 1)
    grads = torch.autograd.grad((joined * target).sum(), wrt)
    torch.testing.assert_close(joined, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("loss", ["weighted", "plain_sum", "mixture_only"])
def test_row_blocks_take_every_gradient_path_into_the_one_weight_gradient(loss):
    """The loss's gradient of the joined scores (contiguous, an expanded .sum()
    gradient, or none at all) and the recurrence's, summed per row, make the
    weight and bias gradients, whatever order the blocks' backward runs in."""
    steps = 3
    weight, b, embedding, start = leaves(True)
    reference = unroll(weight, b, embedding, start, steps, lambda j, f: F.linear(f, weight, b))

    def objective(outputs):
        if loss == "weighted":
            return (torch.stack(outputs, 1) * torch.linspace(-1, 1, 3 * steps * 7).view(3, steps, 7)).sum()
        if loss == "plain_sum":
            return torch.stack(outputs, 1).sum()
        return outputs[-1].sum()  # only the last step: earlier ones reach it through the mixture

    expected_grads = torch.autograd.grad(objective(reference), [weight, b, embedding, start])
    buffer = torch.empty(steps * 3, 7)
    projection = RowBlockProjection(buffer, weight, b)
    features = []

    def project(j, f):
        features.append(f)
        return projection.block(3 * j, 3 * j + 3, f)

    outputs = unroll(weight, b, embedding, start, steps, project)
    joined = projection.join(outputs, torch.cat(features)).view(steps, 3, 7)
    steps_of_join = [joined[j] for j in range(steps)]
    used = steps_of_join if loss != "mixture_only" else [outputs[0], outputs[1], joined[-1]]
    grads = torch.autograd.grad(objective(used), [weight, b, embedding, start])
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


def test_join_refuses_blocks_held_elsewhere_or_not_covering_the_buffer():
    buffer = torch.zeros(6, 4)
    projection = RowBlockProjection(buffer, torch.zeros(4, 3), None)
    features = torch.zeros(6, 3)
    with pytest.raises(ValueError, match="block 2"):
        projection.join([buffer[:2], buffer[2:4], torch.zeros(2, 4)], features)
    with pytest.raises(ValueError, match="4 rows for a buffer of 6"):
        projection.join([buffer[:2], buffer[2:4]], features)


def test_score_layout_puts_each_fed_block_after_the_rows_only_the_loss_needs():
    fed = torch.tensor([[False, True, False, True],
                        [False, True, True, False],
                        [False, False, False, True]])
    layout = score_layout(fed)
    seqlen = fed.size(1)
    assert sorted(layout.order.tolist()) == list(range(fed.numel()))  # a permutation
    assert [None if r is None else r.tolist() for r in layout.rows] == [None, [0, 1], [1], [0, 2]]
    # each block holds the previous step's scores of the sentences fed at j, in order
    for j, rows in enumerate(layout.rows):
        if rows is None:
            assert layout.bounds[j] is None
            continue
        first, last = layout.bounds[j]
        assert layout.order[first:last].tolist() == (rows * seqlen + j - 1).tolist()
    # the first rows are the positions whose scores no later step reads
    later = set(layout.order[: layout.n_later].tolist())
    needed = {b * seqlen + j - 1 for b, j in fed.nonzero().tolist()}
    assert later == set(range(fed.numel())) - needed and layout.n_later == 12 - 5


def test_in_target_order_inverts_the_layout_with_its_gradient():
    fed = torch.rand(4, 5, generator=torch.Generator().manual_seed(0)) < 0.5
    fed[:, 0] = False
    layout = score_layout(fed)
    expected = torch.randn(4, 5, 3)
    rows = expected.view(20, 3).index_select(0, layout.order).requires_grad_()
    restored = in_target_order(rows, layout.order, 4, 5)
    torch.testing.assert_close(restored, expected)
    (restored * expected).sum().backward()
    torch.testing.assert_close(rows.grad, rows.detach())


def test_shared_operand_products_give_the_gradient_of_plain_products():
    """x_j @ M for a recurrence of steps, M's gradient taken once at the end:
    every gradient equals that of plain matrix products."""
    from relaxss.projection import SharedOperandProducts

    torch.manual_seed(0)
    operand = torch.randn(7, 5, requires_grad=True)
    start = torch.randn(3, 7, requires_grad=True)

    def unroll(product):
        x, outputs = start, []
        for j in range(4):
            weights = torch.softmax(x[: 3 - j % 2], -1)  # steps mix different row counts
            out = product(weights)
            outputs.append(out)
            x = torch.cat([out, out[:, :2]], dim=1) * 0.5 + x[: out.size(0)] if j % 2 else x
        return torch.cat(outputs).pow(2).sum()

    expected = torch.autograd.grad(unroll(lambda w: w @ operand), [operand, start])
    products = SharedOperandProducts(operand, rows=3 + 2 + 2 + 2)
    got = torch.autograd.grad(unroll(products.product), [operand, start])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
    assert products.used == 9
    with pytest.raises(ValueError, match="sized for 9"):
        products.product(torch.zeros(1, 7))


def test_projections_leave_no_reference_cycle_behind():
    """Buffers as large as all the scores must be freed when the graph goes, not
    when the garbage collector next runs."""
    import gc
    import weakref

    from relaxss.projection import SharedOperandProducts

    gc.disable()
    try:
        weight = torch.randn(7, 5, requires_grad=True)
        buffer = torch.empty(4, 7)
        projection = RowBlockProjection(buffer, weight, None)
        features = torch.randn(4, 5, requires_grad=True)
        scores = projection.join([projection.block(0, 4, features)], features)
        products = SharedOperandProducts(weight, rows=4)
        mixed = products.product(torch.softmax(scores, -1))
        products.close()
        mixed.sum().backward()
        alive = [weakref.ref(projection), weakref.ref(products)]
        del projection, products, scores, mixed
        assert [ref() for ref in alive] == [None, None]
    finally:
        gc.enable()
