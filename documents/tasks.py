"""django-q2 jobs for documents: plain functions named by dotted path."""

from __future__ import annotations

from documents import ingestion


def process_document(document_id: int) -> str:
    """Extract, chunk and index a large upload; returns the resulting status."""
    document = ingestion.process(document_id)
    return document.status if document is not None else "deleted"
