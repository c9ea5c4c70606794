"""From a received upload to searchable chunks: check, store, deduplicate, process."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from documents import chunking, filetypes
from documents.extraction import ExtractionError, extract_with_budget
from documents.models import Chunk, Document, Status
from documents.uploads import IncomingFile

logger = logging.getLogger("switchboard.documents")

# Files up to this size are extracted during the upload request; larger ones by the worker.
INLINE_MAX_BYTES = 512 * 1024
# Per-file bounds for the extractor child; settings of the same name override them.
EXTRACTION_SECONDS = 60.0
EXTRACTION_MEMORY_MB = 1024


def store(incoming: IncomingFile, user_id: int | None) -> tuple[Document, bool]:
    """Check the upload and keep it: (document, created). The same bytes from the same
    owner answer the existing document. Raises RefusedFile with a message for the client."""
    label = filetypes.clean_label(incoming.name or "")
    extension = filetypes.extension_of(label)
    filetypes.check_content(incoming.path, extension, incoming.head)
    existing = Document.objects.owned_by(user_id).filter(sha256=incoming.sha256).first()
    if existing is not None:
        return existing, False
    document = Document(
        user_id=user_id,
        title=label,
        extension=extension,
        stored_name=f"{uuid.uuid4().hex}{extension}",
        sha256=incoming.sha256,
        size=incoming.size or 0,
    )
    try:
        with transaction.atomic():
            document.save()
    except IntegrityError:
        # The same file arrived twice at once; the other request stored it.
        return Document.objects.owned_by(user_id).get(sha256=incoming.sha256), False
    incoming.claim(document.path)
    logger.info("document %s stored (%s, %d bytes)", document.pk, extension, document.size)
    return document, True


def schedule(document: Document) -> None:
    """Process small files now and large ones in the django-q2 worker."""
    if document.size <= INLINE_MAX_BYTES:
        process(document.pk)
        return
    from django_q.tasks import async_task

    async_task("documents.tasks.process_document", document.pk, task_name=f"document-{document.pk}")


def process(document_id: int) -> Document | None:
    """Extract, chunk and index one document; idempotent (chunks are replaced)."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return None  # deleted while queued
    try:
        sections = extract_with_budget(
            document.path,
            filetypes.kind_of(document.extension),
            seconds=getattr(settings, "DOCUMENTS_EXTRACTION_SECONDS", EXTRACTION_SECONDS),
            memory_mb=getattr(settings, "DOCUMENTS_EXTRACTION_MEMORY_MB", EXTRACTION_MEMORY_MB),
        )
    except (ExtractionError, OSError) as exc:
        return _fail(document, str(exc))
    pieces = chunking.chunk(sections)
    if not pieces:
        return _fail(document, "no text found in the file")
    with transaction.atomic():
        Chunk.objects.filter(document=document).delete()
        Chunk.objects.bulk_create(
            Chunk(document=document, ordinal=i, text=p.text, page=p.page, section=p.section)
            for i, p in enumerate(pieces)
        )
        pages = [section.page for section in sections if section.page is not None]
        document.page_count = max(pages) if pages else None
        document.status, document.error = Status.READY, ""
        document.processed_at = timezone.now()
        document.save(update_fields=["page_count", "status", "error", "processed_at"])
    logger.info("document %s ready: %d chunks", document.pk, len(pieces))
    return document


def _fail(document: Document, reason: str) -> Document:
    logger.warning("document %s failed: %s", document.pk, reason)
    document.status, document.error = Status.FAILED, reason[:1000]
    document.processed_at = timezone.now()
    document.save(update_fields=["status", "error", "processed_at"])
    return document
