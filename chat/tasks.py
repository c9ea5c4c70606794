"""django-q2 jobs of the chat app (console.schedules names them)."""

from __future__ import annotations

from django.utils import timezone


def prune_stored_responses() -> int:
    """Delete Responses API answers past RESPONSES_RETENTION_DAYS (hourly). Expired ones
    are already invisible to the API; this keeps the table from growing."""
    from chat.models import StoredResponse

    deleted, _ = StoredResponse.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
