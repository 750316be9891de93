"""fairseq checkpoints load under torch.load(weights_only=True); nothing else does."""
import argparse
import datetime
import pickle

import pytest
import torch
from fairseq import checkpoint_utils

import relaxss_fairseq  # noqa: F401  (registers the allow-list)


def test_torch_loads_weights_only_by_default():
    # the premise: without the allow-list, fairseq-generate fails on torch >= 2.6
    import inspect

    assert inspect.signature(torch.load).parameters["weights_only"].default in (None, True)


def test_a_checkpoint_fairseq_train_wrote_loads(toy_checkpoint):
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(toy_checkpoint)) == []
    state = checkpoint_utils.load_checkpoint_to_cpu(str(toy_checkpoint))
    assert any_numpy_array(state["extra_state"]["metrics"])  # the allow-list is needed
    assert state["cfg"]["model"]._name == "lstm_relaxed_paper_mt"
    assert "decoder.attention.key_proj.weight" in state["model"]


def any_numpy_array(value) -> bool:
    import numpy as np

    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, dict):
        return any(any_numpy_array(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(any_numpy_array(v) for v in value)
    return False


def test_legacy_checkpoints_with_an_args_namespace_load(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"args": argparse.Namespace(arch="lstm_relaxed"), "model": {"w": torch.ones(2)}}, path)
    assert torch.load(path)["args"].arch == "lstm_relaxed"


def test_a_checkpoint_with_any_other_global_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "extra": datetime.datetime(2020, 1, 1)}, path)
    with pytest.raises(pickle.UnpicklingError, match="datetime"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))


def test_numpy_arrays_of_other_dtypes_are_refused(tmp_path):
    import numpy as np

    path = tmp_path / "float16.pt"
    torch.save({"extra": np.zeros(3, dtype=np.float16)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
