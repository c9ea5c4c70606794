"""Structure-aware chunking: paragraphs packed into bounded chunks with overlap.

A chunk never crosses a page or section boundary, so it can name where it came from.
Within a section, consecutive chunks share `overlap` characters of context so an answer
split across a boundary is still found whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from documents.extraction import Section

MAX_CHARS = 1000
OVERLAP = 150

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Piece:
    text: str
    page: int | None
    section: str


def chunk(
    sections: list[Section], max_chars: int = MAX_CHARS, overlap: int = OVERLAP
) -> list[Piece]:
    pieces = []
    for section in sections:
        units = _units(section.text, max_chars, max_chars - overlap - 2)
        for text in _pack(units, max_chars, overlap):
            pieces.append(Piece(text, section.page, section.section))
    return pieces


def _units(text: str, max_chars: int, cut_at: int) -> Iterator[str]:
    """Paragraphs; one over the limit is cut at sentences, then words, to `cut_at` characters
    (shorter than the limit so the overlap still fits beside it)."""
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            yield paragraph
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            yield from _cut_words(sentence, cut_at)


def _cut_words(text: str, max_chars: int) -> Iterator[str]:
    line = ""
    for word in text.split():
        while len(word) > max_chars:  # a token with no spaces (minified code, base64)
            if line:
                yield line
                line = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if line and len(line) + 1 + len(word) > max_chars:
            yield line
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        yield line


def _pack(units: Iterator[str], max_chars: int, overlap: int) -> Iterator[str]:
    current = ""
    for unit in units:
        if current and len(current) + 2 + len(unit) > max_chars:
            yield current
            tail = _tail(current, overlap)
            current = (
                f"{tail}\n\n{unit}" if tail and len(tail) + 2 + len(unit) <= max_chars else unit
            )
        else:
            current = f"{current}\n\n{unit}" if current else unit
    if current:
        yield current


def _tail(text: str, overlap: int) -> str:
    """The last `overlap` characters, started at a word boundary."""
    if overlap <= 0:
        return ""
    tail = text[-overlap:]
    if len(text) > overlap and " " in tail:
        tail = tail.split(" ", 1)[1]
    return tail.strip()
