"""The one place console views fetch a user's objects: what they do not own is a 404.

An admin API key has no user; what it creates belongs to "no user" and it sees only that,
so a key never reads people's conversations.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, UUIDField
from django.http import Http404, HttpRequest

from config.auth import authorize, holds
from console.models import Message, Profile, Session


def owner_of(request: HttpRequest) -> Any:
    """The user behind a console request, or None for an admin API key."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def manages_shared_profiles(request: HttpRequest, action: str) -> bool:
    """Shared profiles need the console.<action>_profile permission (an admin key holds
    them all); one's own profiles need none."""
    return holds(request, f"console.{action}_profile")


def sessions_of(owner: Any) -> QuerySet[Session]:
    return Session.objects.filter(user=owner) if owner else Session.objects.filter(user=None)


def messages_of(owner: Any) -> QuerySet[Message]:
    return Message.objects.filter(session__in=sessions_of(owner))


def profiles_visible_to(owner: Any) -> QuerySet[Profile]:
    """Shared profiles plus the owner's own."""
    if owner is None:
        return Profile.objects.filter(owner=None)
    return Profile.objects.filter(Q(owner=None) | Q(owner=owner))


def owned(queryset: QuerySet[Any], pk: object, what: str) -> Any:
    """`queryset.get(pk=pk)` or Http404 naming `what`; a malformed id is a 404 too."""
    try:
        if isinstance(queryset.model._meta.pk, UUIDField):
            pk = uuid.UUID(str(pk))
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"{what} not found.") from None


def owned_session(request: HttpRequest, session_id: object) -> Session:
    return owned(sessions_of(owner_of(request)), session_id, "Session")


def owned_message(request: HttpRequest, message_id: object) -> Message:
    return owned(messages_of(owner_of(request)), message_id, "Message")


def visible_profile(request: HttpRequest, profile_id: object) -> Profile:
    return owned(profiles_visible_to(owner_of(request)), profile_id, "Profile")


def editable_profile(request: HttpRequest, profile_id: object, action: str = "change") -> Profile:
    """A profile the request may change (or delete): its own, or a shared one with the
    permission for `action`."""
    profile = visible_profile(request, profile_id)
    if profile.owner_id is None:
        authorize(request, f"console.{action}_profile")
    return profile
