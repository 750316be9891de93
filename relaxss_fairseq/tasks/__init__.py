from . import ner_tagging  # noqa: F401
