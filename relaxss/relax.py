"""How the previous step's scores become the next decoder input (paper §2-§3).

Every function takes the previous step's output scores ``s_{i-1}`` (``B x V``,
unnormalised) and the decoder's input embedding matrix ``E`` (``V x D``) and
returns the embedding fed to step ``i`` (``B x D``).  Scores are promoted to
float32 before any exponentiation, so fp16 scores and a peaked softmax with
``alpha`` up to 1e6 stay finite.  Which positions take such an embedding
instead of the gold one is :func:`draw_model_feed`'s coin flip, and
:func:`feed_model_predictions` mixes the two into the decoder's inputs, for a
recurrent decoder one step at a time or for a whole sequence at once.
"""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

ROLLIN_MODES = (
    "teacher_forcing",
    "hard_greedy",
    "hard_sample",
    "soft_greedy",
    "soft_sample",
    "st_greedy",
    "st_sample",
)
SOFT_MODES = ("soft_greedy", "soft_sample")
STRAIGHT_THROUGH_MODES = ("st_greedy", "st_sample")
# modes whose backward runs through the peaked-softmax mixture: the paper's credit assignment
RELAXED_MODES = SOFT_MODES + STRAIGHT_THROUGH_MODES


@dataclass(frozen=True)
class Rollin:
    """What the criterion hands the model for one training forward.

    mode:      how a model-fed position is embedded (one of ``ROLLIN_MODES``).
    tf_prob:   probability that a position is fed the gold previous token.
    alpha:     inverse temperature of the peaked softmax (soft modes).
    generator: source of the coin flips and Gumbel noise (None: global RNG).
    top_k:     soft modes mix only the ``top_k`` highest (perturbed) scores;
               0 mixes the whole vocabulary, as the paper does.
    layout_order: return the scores as the roll-in computed them (``N x V``
               rows grouped by when they were projected, with
               ``extra["score_order"]`` mapping rows to flattened target
               positions) instead of ``B x T x V``: saves a copy of all scores
               for a loss that does not care about row order (the criterion's).
    credit_scale: factor on the gradient each relaxed input sends into the
               scores it was made from (relaxed modes): 1 is the paper's credit
               assignment, 0 feeds the mixture with no credit at all (the input
               relaxation alone); in between, a gradient that crosses n relaxed
               inputs is scaled by credit_scale^n, which bounds its growth
               along a chain of model-fed positions.
    credit_meter: a 0-dim float tensor to which the backward adds the squared
               norm of the gradient flowing through the relaxed inputs (after
               scaling), so that its growth can be logged apart from the rest.
    """

    mode: str
    tf_prob: float = 1.0
    alpha: float = 1.0
    generator: Optional[torch.Generator] = None
    top_k: int = 0
    layout_order: bool = False
    credit_scale: float = 1.0
    credit_meter: Optional[Tensor] = None

    def __post_init__(self):
        if self.mode not in ROLLIN_MODES:
            raise ValueError(
                f"unknown roll-in mode {self.mode!r}; expected one of {ROLLIN_MODES}"
            )
        if not 0.0 <= self.tf_prob <= 1.0:
            raise ValueError(f"tf_prob must lie in [0, 1], got {self.tf_prob}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not self.credit_scale >= 0:
            raise ValueError(f"credit_scale must be >= 0, got {self.credit_scale}")

    @property
    def uses_alpha(self) -> bool:
        """True when ``alpha`` shapes what is fed or its gradient (relaxed modes)."""
        return self.mode in RELAXED_MODES

    @property
    def assigns_credit(self) -> bool:
        """True when the loss sends gradient through relaxed inputs into earlier
        steps' scores (relaxed modes with a credit scale above 0)."""
        return self.mode in RELAXED_MODES and self.credit_scale > 0

    @property
    def feeds_model(self) -> bool:
        """True when some positions may be fed the model's own prediction."""
        return self.mode != "teacher_forcing" and self.tf_prob < 1.0


def draw_model_feed(
    batch_size: int,
    length: int,
    tf_prob: float,
    generator: Optional[torch.Generator] = None,
    device=None,
) -> Tensor:
    """Coin flips of scheduled sampling: ``True`` where position ``i`` of a
    sentence is fed the model's step ``i-1`` prediction instead of the gold
    token (probability ``1 - tf_prob``).  Position 0 (the BOS input) has no
    previous prediction and is always gold."""
    flips = torch.rand(batch_size, length, generator=generator, device=device)
    feed = flips >= tf_prob
    feed[:, 0] = False
    return feed


def feed_model_predictions(
    gold: Tensor, predicted: Tensor, fed: Tensor, fed_index: Optional[Tensor] = None
) -> Tensor:
    """The decoder inputs of scheduled sampling (paper §3.3, Figure 2): the
    gold embedding ``e(y*_{i-1})``, except at the positions fed from the model,
    which take the embedding of the model's own previous prediction.

    gold:      ``... x D`` gold input embeddings (e.g. ``B x D`` for one step
               of a recurrent decoder, ``B x T x D`` for a whole sequence).
    predicted: ``N x D`` (or any shape with ``N`` rows of ``D``): the model's
               embeddings, one row per fed position, in the row-major order of
               the fed positions.
    fed:       bool mask of shape ``gold.shape[:-1]``, ``True`` where the model's
               prediction is fed, e.g. from :func:`draw_model_feed`; ``predicted``
               must have one row per ``True`` (not checked: counting them would
               be a host sync).
    fed_index: optionally, the flattened indices of ``fed``'s ``True`` positions,
               ascending (what ``fed.reshape(-1).nonzero()`` gives): with it the
               mixing is an ``index_copy``, which needs no host sync on a GPU in
               the forward or the backward (the mask alone takes a
               ``masked_scatter``, whose backward reads the number of ``True``
               positions).

    Neither input is modified, and the result is differentiable in both: the
    gradient of a fed position goes to its row of ``predicted`` (and from there
    into the scores the prediction was made from, in the relaxed modes), that
    of every other position to ``gold``.  When every position is fed (``N``
    rows for ``N`` positions, known from the shapes alone) the result is
    ``predicted`` itself (reshaped to ``gold``'s shape if need be), when none
    is (no rows) ``gold`` itself; otherwise a new tensor.
    """
    if fed.shape != gold.shape[:-1]:
        raise ValueError(f"fed has shape {tuple(fed.shape)}; expected gold's positions "
                         f"{tuple(gold.shape[:-1])}")
    dim = gold.size(-1)
    if predicted.dim() == 0 or predicted.size(-1) != dim:
        raise ValueError(f"predicted has shape {tuple(predicted.shape)}; expected rows of "
                         f"size {dim}")
    n_fed = predicted.numel() // dim
    if n_fed == fed.numel():  # every position fed: no copy of gold at all
        return predicted if predicted.shape == gold.shape else predicted.reshape(gold.shape)
    if n_fed == 0:
        return gold
    if fed_index is not None:
        rows = predicted if predicted.dim() == 2 else predicted.reshape(n_fed, dim)
        if gold.dim() == 2:
            return gold.index_copy(0, fed_index, rows)
        return gold.reshape(-1, dim).index_copy(0, fed_index, rows).view(gold.shape)
    return gold.masked_scatter(fed.unsqueeze(-1), predicted)


def gumbel_from_uniform(u: Tensor) -> Tensor:
    """``G = -log(-log U)`` (§3.2), with ``U`` clamped into the open interval
    so that ``U = 0`` or ``U = 1`` give large but finite noise."""
    return gumbel_from_uniform_(u.float().clone())


def gumbel_from_uniform_(u: Tensor) -> Tensor:
    """:func:`gumbel_from_uniform` computed in place in the float tensor ``u``
    (one ``B x V`` buffer instead of five temporaries)."""
    finfo = torch.finfo(u.dtype)
    return u.clamp_(min=finfo.tiny, max=1.0 - finfo.eps).log_().neg_().log_().neg_()


def gumbel_noise(like: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """Standard Gumbel noise (float32) of the shape and device of ``like``."""
    u = torch.rand(like.shape, generator=generator, device=like.device, dtype=torch.float32)
    return gumbel_from_uniform_(u)


# Peaked-softmax logits more than this far below their maximum are raised to it:
# weights under exp(-50) ~ 2e-22 change nothing a float32 mixture can hold, while
# letting them underflow into subnormal floats makes CPU matrix products many
# times slower (seen with Gumbel noise: 7x).
LOGIT_FLOOR = -50.0


def peaked_softmax(logits: Tensor) -> Tensor:
    """``softmax(logits)`` with every logit kept within ``LOGIT_FLOOR`` of the
    maximum (this only moves weights below ``exp(LOGIT_FLOOR)``; no subnormal
    weights or gradients).  The lift to the floor is a constant, so autograd
    keeps no extra ``B x V`` tensor for it."""
    detached = logits.detach()
    floor = detached.amax(dim=-1, keepdim=True) + LOGIT_FLOOR
    lifted = torch.sub(floor, detached).clamp_(min=0.0).add_(logits)  # max(logits, floor)
    return torch.softmax(lifted, dim=-1)


def peaked_softmax_mixture(
    logits: Tensor, embedding_weight: Tensor, top_k: int = 0, mix=None
) -> Tensor:
    """``sum_y e(y) softmax(logits)(y)`` for float32 logits (``alpha * s``, or
    ``alpha * (s + G)``): one ``B x V @ V x D`` product -- through ``mix``
    (:class:`~relaxss.projection.SharedOperandProducts` of ``E``)
    when given, which takes ``E``'s gradient of all a roll-in's mixtures at once.

    With ``top_k > 0`` only the ``top_k`` highest logits are mixed
    (``B x k x D`` gathered rows): an approximation whose error is at most
    ``2 max_y ||e(y)||`` times the softmax mass outside the top k, which
    vanishes as ``alpha`` grows.  Not the paper's exact mixture."""
    if 0 < top_k < logits.size(-1):
        top_logits, top_ids = logits.topk(top_k, dim=-1)
        weights = peaked_softmax(top_logits).to(embedding_weight.dtype)
        return torch.einsum("bk,bkd->bd", weights, F.embedding(top_ids, embedding_weight))
    weights = peaked_softmax(logits).to(embedding_weight.dtype)
    return weights @ embedding_weight if mix is None else mix.product(weights)


def soft_argmax_embedding(
    scores: Tensor, embedding_weight: Tensor, alpha: float, top_k: int = 0, mix=None
) -> Tensor:
    """Soft argmax (§3.1): ``ē = sum_y e(y) softmax(alpha * s)(y)``.

    Tends to the argmax embedding as ``alpha -> inf``; differentiable in ``s``."""
    return peaked_softmax_mixture(scores.float() * alpha, embedding_weight, top_k, mix)


def gumbel_soft_embedding(
    scores: Tensor,
    embedding_weight: Tensor,
    alpha: float,
    generator: Optional[torch.Generator] = None,
    top_k: int = 0,
    mix=None,
) -> Tensor:
    """Soft reparametrised sample (§3.2):
    ``ẽ = sum_y e(y) softmax(alpha * (s + G))(y)``, ``G = -log(-log U)``."""
    logits = gumbel_logits(scores, alpha, generator)
    return peaked_softmax_mixture(logits, embedding_weight, top_k, mix)


def gumbel_logits(scores: Tensor, alpha: float, generator: Optional[torch.Generator]) -> Tensor:
    """``alpha * (s + G)`` in float32, made in the noise's own buffer."""
    return gumbel_noise(scores, generator).mul_(alpha).add_(scores.float(), alpha=alpha)


def embed_choice(tokens: Tensor, embedding_weight: Tensor) -> Tensor:
    """``e(y)`` of chosen tokens.  The gradient to the table is sparse: called at
    every decoder step, a dense ``V x D`` gradient per step would cost more than
    the lookup itself."""
    return F.embedding(tokens, embedding_weight, sparse=True)


def hard_greedy_embedding(scores: Tensor, embedding_weight: Tensor) -> Tensor:
    """Scheduled sampling's greedy input (Bengio et al., 2015; §3.1):
    ``ê = e(argmax_y s(y))``.  No gradient reaches ``s`` through the choice."""
    # max(dim).indices: the same first maximal index as argmax, three times faster on CPU
    return embed_choice(scores.detach().max(dim=-1).indices, embedding_weight)


def sample_tokens(scores: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """``y ~ softmax(s)`` for each row, by inverting the cumulative distribution:
    one uniform number per row instead of Gumbel noise for every vocabulary entry."""
    cdf = torch.softmax(scores.detach().float(), dim=-1).cumsum_(dim=-1)
    u = torch.rand(scores.size(0), 1, generator=generator, device=scores.device)
    u = u * cdf[:, -1:]  # the last value is 1 up to rounding
    return torch.searchsorted(cdf, u).squeeze(1).clamp_(max=scores.size(-1) - 1)


def hard_sample_embedding(
    scores: Tensor,
    embedding_weight: Tensor,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Scheduled sampling's sampled input: ``e(y)``, ``y ~ softmax(s)``.
    No gradient reaches ``s``."""
    return embed_choice(sample_tokens(scores, generator), embedding_weight)


class _StraightThrough(torch.autograd.Function):
    """Forward: the hard embedding, exactly; backward: into the soft one."""

    @staticmethod
    def forward(ctx, hard, soft):
        return hard.clone()

    @staticmethod
    def backward(ctx, grad):
        return None, grad


def straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """``hard`` in the forward pass, with the gradient of ``soft`` in the
    backward (Bengio et al., 2013; the straight-through Gumbel estimator of
    Jang et al., 2017): the decoder is fed what test-time decoding feeds, and
    credit still reaches the scores through the relaxation."""
    return _StraightThrough.apply(hard.detach(), soft)


def straight_through_greedy_embedding(
    scores: Tensor, embedding_weight: Tensor, alpha: float, top_k: int = 0, mix=None
) -> Tensor:
    """Forward ``e(argmax_y s(y))`` (what hard greedy feeds), backward the soft
    argmax's ``d/ds sum_y e(y) softmax(alpha * s)(y)`` (§3.1)."""
    return straight_through_of_logits(scores.float() * alpha, embedding_weight, top_k, mix)


class _StraightThroughMixture(torch.autograd.Function):
    """Forward: the hard embedding; backward: the gradient of the mixture
    ``weights @ E``, whose value the forward never needs and so never computes."""

    @staticmethod
    def forward(ctx, hard, weights, embedding_weight):
        ctx.save_for_backward(weights, embedding_weight)
        return hard.detach()  # a plain alias: the graph of the result is this node

    @staticmethod
    def backward(ctx, grad):
        weights, embedding_weight = ctx.saved_tensors
        grad_weights = grad.mm(embedding_weight.t()) if ctx.needs_input_grad[1] else None
        grad_embedding = weights.t().mm(grad) if ctx.needs_input_grad[2] else None
        return None, grad_weights, grad_embedding


def straight_through_of_logits(
    logits: Tensor, embedding_weight: Tensor, top_k: int = 0, mix=None
) -> Tensor:
    """The embedding of ``argmax logits`` forward, the peaked-softmax mixture's
    gradient backward.  The full mixture's product with ``E`` is left out of the
    forward (its value is not fed): one of the three ``B x V x D`` products a
    soft mode makes per fed row (forward, and the backward into the weights and
    into ``E``)."""
    hard = F.embedding(logits.detach().max(dim=-1).indices, embedding_weight.detach())
    if 0 < top_k < logits.size(-1):  # the top-k mixture is a B x k x D gather: cheap
        soft = peaked_softmax_mixture(logits, embedding_weight, top_k)
        return straight_through(hard.to(soft.dtype), soft)
    weights = peaked_softmax(logits).to(embedding_weight.dtype)
    if mix is not None:
        return mix.product(weights, forward_value=hard)
    return _StraightThroughMixture.apply(hard, weights, embedding_weight)


def straight_through_sample_embedding(
    scores: Tensor,
    embedding_weight: Tensor,
    alpha: float,
    generator: Optional[torch.Generator] = None,
    top_k: int = 0,
    mix=None,
) -> Tensor:
    """Forward ``e(y)``, ``y = argmax_y (s + G)(y)`` -- a sample of
    ``softmax(s)`` by the Gumbel-max trick --, backward the Gumbel-soft
    mixture's ``d/ds sum_y e(y) softmax(alpha * (s + G))(y)`` (§3.2) with the
    same noise ``G``."""
    logits = gumbel_logits(scores, alpha, generator)
    return straight_through_of_logits(logits, embedding_weight, top_k, mix)


class _CreditGate(torch.autograd.Function):
    """Identity forward; the backward scales the gradient by ``scale`` and adds
    its squared norm to ``meter``."""

    @staticmethod
    def forward(ctx, scores, scale, meter):
        ctx.scale, ctx.meter = scale, meter
        return scores.view_as(scores)

    @staticmethod
    def backward(ctx, grad):
        if ctx.scale != 1.0:
            grad = grad * ctx.scale
        if ctx.meter is not None:
            ctx.meter.add_(grad.detach().float().pow(2).sum().to(ctx.meter.device))
        return grad, None, None


def credit_gate(scores: Tensor, scale: float = 1.0, meter: Optional[Tensor] = None) -> Tensor:
    """The scores a relaxed input is made from, as seen by the relaxation: the
    same values, but the gradient the relaxation sends back into them (the
    credit of later steps) is multiplied by ``scale`` and measured into
    ``meter``.  ``scale = 0`` cuts it (the scores are detached)."""
    if scale == 0:
        return scores.detach()
    if scale == 1.0 and meter is None:
        return scores
    return _CreditGate.apply(scores, scale, meter)


def relaxed_input_embedding(
    scores: Tensor, embedding_weight: Tensor, rollin: Rollin, mix=None
) -> Tensor:
    """The embedding of the model's own previous prediction under ``rollin.mode``;
    in the relaxed modes the gradient into ``scores`` passes the credit gate
    (``rollin.credit_scale``, ``rollin.credit_meter``), and the mixture's
    product with ``E`` goes through ``mix`` when given (see
    :func:`peaked_softmax_mixture`)."""
    if rollin.mode in RELAXED_MODES:
        scores = credit_gate(scores, rollin.credit_scale, rollin.credit_meter)
    if rollin.mode == "soft_greedy":
        return soft_argmax_embedding(scores, embedding_weight, rollin.alpha, rollin.top_k, mix)
    if rollin.mode == "soft_sample":
        return gumbel_soft_embedding(
            scores, embedding_weight, rollin.alpha, rollin.generator, rollin.top_k, mix
        )
    if rollin.mode == "st_greedy":
        return straight_through_greedy_embedding(
            scores, embedding_weight, rollin.alpha, rollin.top_k, mix
        )
    if rollin.mode == "st_sample":
        return straight_through_sample_embedding(
            scores, embedding_weight, rollin.alpha, rollin.generator, rollin.top_k, mix
        )
    if rollin.mode == "hard_greedy":
        return hard_greedy_embedding(scores, embedding_weight)
    if rollin.mode == "hard_sample":
        return hard_sample_embedding(scores, embedding_weight, rollin.generator)
    raise ValueError(f"roll-in mode {rollin.mode!r} never feeds the model's predictions")
