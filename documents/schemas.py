from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import Field, StringConstraints

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DocumentOut(Schema):
    id: int
    title: str
    extension: str
    size: int
    sha256: str
    status: str
    error: str
    page_count: int | None
    chunk_count: int
    created_at: datetime
    processed_at: datetime | None


class DocumentList(Schema):
    items: list[DocumentOut]
    count: int


class ChunkOut(Schema):
    id: int
    document_id: int
    ordinal: int
    page: int | None
    section: str
    page_or_section: str
    text: str


class QuestionIn(Schema):
    question: Question
    model: ModelName | None = None
    # A documents session of the caller's: the question and its answer are kept there.
    session_id: str | None = Field(None, max_length=64)


class MultiQuestionIn(QuestionIn):
    document_ids: list[int] = Field(min_length=1, max_length=100)


class CitationOut(Schema):
    number: int
    document_id: int
    document_title: str
    chunk_id: int
    page_or_section: str
    page: int | None
    section: str
    quote: str


class AnswerOut(Schema):
    answer: str
    citations: list[CitationOut]
    model: str | None = None
    provider: str | None = None
    # With a session_id: the saved question and answer.
    prompt_message_id: int | None = None
    message_id: int | None = None
