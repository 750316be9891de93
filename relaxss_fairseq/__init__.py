"""relaxss-fairseq: Differentiable Scheduled Sampling for Credit Assignment
(Goyal, Dyer & Berg-Kirkpatrick, ACL 2017) as a fairseq ``--user-dir`` plugin.

Importing the package registers, with fairseq:

- the criterion ``relaxed_scheduled_sampling``;
- the models ``lstm_relaxed`` and ``transformer_relaxed`` and their architecture presets;
- the task ``ner_tagging`` (NER as sequence-to-sequence);

allow-lists the globals of fairseq checkpoints for ``torch.load`` with
``weights_only=True`` (torch >= 2.6), so ``fairseq-generate`` can load them; and makes a
``fairseq-train`` run that resumes from its last checkpoint train as the uninterrupted run
would have (``exact_resume``: batches, the last plateau step, early stopping).

The method itself -- relaxations, schedules, the choice and mixing of gold or
model inputs -- is the fairseq-free package ``relaxss``, which imports without
these side effects; this package adapts it to fairseq.
"""
from . import checkpoint_safety  # noqa: F401  (first: before any checkpoint is read)
from . import exact_resume  # noqa: F401
from . import criterions, models, tasks  # noqa: F401

__version__ = "0.1.0"
