"""CoNLL-style named-entity files: one token per line, the tag in the last
column, a blank line between sentences, ``-DOCSTART-`` lines skipped.

Both layouts of CoNLL-2003 are read: English ``TOKEN TAG`` (or the original
four columns) and German ``WORD LEMMA POS CHUNK NER`` in Latin-1.  Malformed
input is never dropped, shifted or truncated: it is reported with file and
line number.
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Sequence, Tuple

DOCSTART = "-DOCSTART-"
TAG_SCHEMES = ("keep", "iob2")


class ConllFormatError(ValueError):
    """A malformed CoNLL file; the message starts with ``file:line:``."""


@dataclass
class Sentence:
    tokens: List[str]
    tags: List[str]
    line: int  # line number of the first token, for messages


def _check_tag(tag: str, path: str, line_no: int) -> None:
    if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        raise ConllFormatError(
            f"{path}:{line_no}: tag {tag!r} is not O, B-TYPE or I-TYPE (BIO/IOB1)"
        )


def read_conll(path: str, encoding: str = "utf-8", min_columns: int = 2) -> List[Sentence]:
    """Sentences of a CoNLL file.  Every non-blank line must have at least
    ``min_columns`` whitespace-separated columns and, within a sentence, the
    same number of columns as the sentence's first line."""
    sentences: List[Sentence] = []
    tokens: List[str] = []
    tags: List[str] = []
    first_line = columns = 0
    with open(path, encoding=encoding, newline="") as f:
        for line_no, raw in enumerate(f, start=1):
            fields = raw.split()
            if not fields:
                if tokens:
                    sentences.append(Sentence(tokens, tags, first_line))
                    tokens, tags = [], []
                continue
            if fields[0] == DOCSTART:
                if tokens:
                    raise ConllFormatError(f"{path}:{line_no}: {DOCSTART} inside a sentence")
                continue
            if len(fields) < min_columns:
                raise ConllFormatError(
                    f"{path}:{line_no}: expected at least {min_columns} columns "
                    f"(token ... tag), got {len(fields)}: {raw.rstrip()!r}"
                )
            if not tokens:
                first_line, columns = line_no, len(fields)
            elif len(fields) != columns:
                raise ConllFormatError(
                    f"{path}:{line_no}: {len(fields)} columns where the sentence "
                    f"starting at line {first_line} has {columns}: token and tag "
                    f"counts would differ"
                )
            _check_tag(fields[-1], path, line_no)
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        sentences.append(Sentence(tokens, tags, first_line))
    return sentences


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """IOB1 (``I-`` opens a chunk unless it continues one of the same type) to
    BIO/IOB2 (every chunk opens with ``B-``).  IOB2 input is returned unchanged."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def apply_tag_scheme(sentences: Iterable[Sentence], scheme: str) -> List[Sentence]:
    """``keep`` the tags as written (the paper does no preprocessing) or
    convert them to ``iob2``."""
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {TAG_SCHEMES}")
    if scheme == "keep":
        return list(sentences)
    return [Sentence(s.tokens, iob1_to_iob2(s.tags), s.line) for s in sentences]


def write_conll(path: str, rows: Iterator[Tuple[List[str], ...]], encoding: str = "utf-8") -> None:
    """Write sentences as columns (e.g. token, gold, predicted), blank-line separated:
    the input format of ``conlleval``."""
    with open(path, "w", encoding=encoding) as f:
        for columns in rows:
            for values in zip(*columns):
                f.write(" ".join(values) + "\n")
            f.write("\n")
