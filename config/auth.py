"""Authentication for the management API (/api).

A logged-in staff session (with CSRF) or `Authorization: Bearer <key>` for an ApiKey
with the `admin` scope. Console endpoints accept any logged-in user and scope data to
them. Missing credentials answer 401, insufficient ones 403.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from chat.models import Scope, find_key


class UserSession(SessionAuth):
    """Any logged-in user (console endpoints)."""


class StaffSession(SessionAuth):
    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and not user.is_staff:
            raise AuthorizationError(message="This endpoint needs a staff account.")
        return user


class AdminKey(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = find_key(token)
        if key is None:
            return None
        if not key.has_scope(Scope.ADMIN):
            raise AuthorizationError(message="This API key lacks the 'admin' scope.")
        request.api_key = key  # type: ignore[attr-defined]
        return key


admin_auth = [AdminKey(), StaffSession()]
user_auth = [AdminKey(), UserSession()]
