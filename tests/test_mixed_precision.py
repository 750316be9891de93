"""Mixed precision (fairseq's --amp): every roll-in of both models trains under autocast.

fairseq's --amp runs the forward under CUDA autocast; CPU autocast with bfloat16 stands in
for it here (same mechanism: matrix products in half precision, the backward outside
autocast), so a custom backward that assumes its forward's dtypes fails here as there."""
import pytest
import torch

from helpers import TinyTask, criterion_for, random_batch, tiny_model
from relaxss import ROLLIN_MODES
from test_transformer import tiny_transformer

MODELS = {"lstm_relaxed": lambda task: tiny_model(task=task),
          "transformer_relaxed": lambda task: tiny_transformer(task=task)}


def loss_and_grads(model_name, mode, autocast):
    task = TinyTask()
    model = MODELS[model_name](task)
    criterion = criterion_for(task, rollin=mode, teacher_forcing_k=1.0, alpha=3.0)
    criterion.set_epoch(3)  # tf_prob 0.5: half the positions model-fed
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss, _, log = criterion(model, random_batch(task, seed=9))
    loss.backward()
    assert mode == "teacher_forcing" or log["model_fed"] > 0
    return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("mode", ROLLIN_MODES)
def test_every_rollin_trains_under_autocast_close_to_full_precision(model_name, mode):
    loss, grads = loss_and_grads(model_name, mode, autocast=False)
    amp_loss, amp_grads = loss_and_grads(model_name, mode, autocast=True)
    assert amp_grads.dtype == torch.float32  # the parameters' own dtype
    assert torch.isfinite(amp_loss) and torch.isfinite(amp_grads).all()
    # bfloat16 keeps ~3 significant digits: close, not equal, to the float32 run
    assert amp_loss == pytest.approx(loss.item(), rel=0.03)
    assert torch.nn.functional.cosine_similarity(amp_grads, grads, dim=0) > 0.98
