from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver


def uploads_dir() -> Path:
    """DATA_DIR/uploads, read per call so tests (and restores) can move DATA_DIR."""
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class DocumentQuerySet(models.QuerySet["Document"]):
    def owned_by(self, user_id: int | None) -> DocumentQuerySet:
        """A user's documents; None: those uploaded with an admin key (no user)."""
        if user_id is None:
            return self.filter(user__isnull=True)
        return self.filter(user_id=user_id)


class Document(models.Model):
    """An uploaded file. `user` is empty for files uploaded with an admin API key."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    title = models.CharField(max_length=200, help_text="The client's file name, a label only.")
    extension = models.CharField(max_length=16)
    stored_name = models.CharField(max_length=80, unique=True, editable=False)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, help_text="Why processing failed.")
    page_count = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "sha256"], name="documents_one_per_user_hash"),
            models.UniqueConstraint(
                fields=["sha256"],
                condition=models.Q(user__isnull=True),
                name="documents_one_per_hash_without_user",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def path(self) -> Path:
        return uploads_dir() / self.stored_name


class Chunk(models.Model):
    """A bounded piece of a document's text. The full-text index over `text` is kept in
    sync by the database itself (SQLite triggers into an FTS5 table; a PostgreSQL GIN
    expression index), see migration 0002."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(null=True, blank=True)
    section = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="documents_chunk_order")
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"

    @property
    def page_or_section(self) -> str:
        if self.page is not None:
            return f"page {self.page}"
        return self.section or f"part {self.ordinal + 1}"


@receiver(post_delete, sender=Document)
def _remove_stored_file(sender: type[Document], instance: Document, **kwargs: object) -> None:
    # After commit: a rolled-back delete must not lose the file.
    path = instance.path
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
