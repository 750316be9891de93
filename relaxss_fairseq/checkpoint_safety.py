"""Let ``torch.load(weights_only=True)`` read fairseq checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it has not been told is safe; fairseq's
``load_checkpoint_to_cpu`` then fails on every checkpoint fairseq itself
wrote.  We allow-list exactly the globals such checkpoints hold (and keep the
check on): a checkpoint holding any other global is still refused.
"""
import argparse

import torch

FAIRSEQ_CHECKPOINT_GLOBALS = [argparse.Namespace]


def allow_fairseq_checkpoint_globals() -> None:
    """Register the globals fairseq checkpoints contain as safe to unpickle."""
    torch.serialization.add_safe_globals(FAIRSEQ_CHECKPOINT_GLOBALS)


allow_fairseq_checkpoint_globals()
