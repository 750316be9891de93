"""Let ``torch.load(weights_only=True)`` read fairseq checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it has not been told is safe; fairseq's
``load_checkpoint_to_cpu`` then fails on every checkpoint fairseq itself
wrote.  We allow-list exactly the globals such checkpoints hold (and keep the
check on): a checkpoint holding any other global is still refused.

What fairseq stores besides tensors and plain containers:

- ``argparse.Namespace``: the legacy ``args`` of the run;
- numpy arrays (``_reconstruct``, ``ndarray``, ``dtype`` and the int64/float64
  dtype classes): meters of the saved metrics, e.g. the BLEU n-gram counts
  that ``--eval-bleu`` logs. A checkpoint names ``_reconstruct`` by the module
  of the numpy that wrote it, which numpy 2 renamed (``numpy.core`` ->
  ``numpy._core``); both names are allowed, so that a checkpoint written under
  numpy 2 (e.g. on a GPU machine) loads under numpy 1 (``install.sh`` pins
  ``numpy<2``) and the other way round.
"""
import argparse

import numpy as np
import torch

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

FAIRSEQ_CHECKPOINT_GLOBALS = [
    argparse.Namespace,
    _reconstruct,
    np.ndarray,
    np.dtype,
    type(np.dtype(np.int64)),
    type(np.dtype(np.float64)),
]


# the name _reconstruct has under the other numpy major version
OTHER_RECONSTRUCT_NAME = ("numpy.core.multiarray._reconstruct"
                          if _reconstruct.__module__.startswith("numpy._core")
                          else "numpy._core.multiarray._reconstruct")


def allow_fairseq_checkpoint_globals() -> None:
    """Register the globals fairseq checkpoints contain as safe to unpickle."""
    torch.serialization.add_safe_globals(FAIRSEQ_CHECKPOINT_GLOBALS)
    torch.serialization.add_safe_globals([(_reconstruct, OTHER_RECONSTRUCT_NAME)])


allow_fairseq_checkpoint_globals()
