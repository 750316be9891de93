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


def test_a_checkpoint_written_under_the_other_numpy_major_version_loads(tmp_path):
    """numpy 2 renamed numpy.core to numpy._core: a checkpoint names _reconstruct by the
    numpy that wrote it (numpy 2 on a GPU machine, numpy 1 from install.sh)."""
    import zipfile

    import numpy as np

    from relaxss_fairseq.checkpoint_safety import OTHER_RECONSTRUCT_NAME, _reconstruct

    written = tmp_path / "here.pt"
    torch.save({"extra": np.arange(3, dtype=np.int64)}, written)
    this_module = _reconstruct.__module__.encode()
    other_module = OTHER_RECONSTRUCT_NAME.rsplit(".", 1)[0].encode()
    other = tmp_path / "other.pt"  # the same file as the other numpy would have written it
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(other, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename.endswith("data.pkl"):
                assert this_module + b"\n_reconstruct" in data
                data = data.replace(this_module + b"\n_reconstruct", other_module + b"\n_reconstruct")
            target.writestr(member, data)
    assert torch.load(other)["extra"].tolist() == [0, 1, 2]
