"""Authentication and authorization for the management API (/api).

Who may do what (README "Security"):
- an ApiKey with the `admin` scope is an operator key: it may call every operation;
- a logged-in user may call an operation when they hold its Django permissions
  (superusers hold them all). `is_staff` alone grants nothing here.

Every /api operation names what it needs through `permitted(...)` (or, for console data
scoped to its owner, `user_auth`); the one check is `authorize()`. Missing credentials
answer 401, missing permissions 403 naming the permission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Model
from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from chat.models import Scope, find_key

# The model permission an HTTP method needs (Django's view/add/change/delete).
ACTION_OF_METHOD = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}

# No backend grants this permission, so only superusers (who hold every permission) and
# operator keys pass: the API's default for an operation that names nothing else.
OPERATOR = "switchboard.operator"

# The permissions an operation needs, worked out from the request.
Needs = Callable[[HttpRequest], tuple[str, ...]]


def model_permission(model: type[Model], action: str) -> str:
    """The permission's full name: (Provider, "change") is providers.change_provider."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def is_operator(request: HttpRequest) -> bool:
    """An admin-scope API key: operator access, every permission."""
    return getattr(request, "api_key", None) is not None


def holds(request: HttpRequest, *permissions: str) -> bool:
    """Whether the caller (operator key or logged-in user) holds every permission."""
    if is_operator(request):
        return True
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return all(user.has_perm(permission) for permission in permissions)


def authorize(request: HttpRequest, *permissions: str) -> None:
    """The one authorization check: AuthorizationError (403) naming the first missing
    permission."""
    for permission in permissions:
        if not holds(request, permission):
            if permission == OPERATOR:
                raise AuthorizationError(message="This needs a superuser or an admin API key.")
            raise AuthorizationError(message=f"This needs the '{permission}' permission.")


class UserSession(SessionAuth):
    """Any logged-in user (console endpoints, which scope data to their owner)."""


class PermittedSession(SessionAuth):
    """A logged-in user holding the operation's permissions (with CSRF, as SessionAuth)."""

    def __init__(self, needs: Needs) -> None:
        super().__init__()
        self.needs = needs

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None:
            authorize(request, *self.needs(request))
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


def _by_method(models: Iterable[type[Model]]) -> Needs:
    models = tuple(models)

    def needs(request: HttpRequest) -> tuple[str, ...]:
        action = ACTION_OF_METHOD.get(request.method or "GET", "change")
        return tuple(model_permission(model, action) for model in models)

    return needs


def permitted(*needs: type[Model] | str, action: str | None = None) -> list[Any]:
    """The `auth=` of an /api router or operation.

    `permitted(Provider)`: the model permission the HTTP method implies (GET view, POST
    add, PUT/PATCH change, DELETE delete); `permitted(Provider, action="change")`: that
    action whatever the method; `permitted("console.manage_backups")`: that permission.
    Several models or permissions: all of them.
    """
    models = [need for need in needs if not isinstance(need, str)]
    fixed = tuple(need for need in needs if isinstance(need, str))
    if action is not None:
        fixed += tuple(model_permission(model, action) for model in models)
        models = []
    by_method = _by_method(models)

    def all_needs(request: HttpRequest) -> tuple[str, ...]:
        return fixed + by_method(request)

    return [AdminKey(), PermittedSession(all_needs)]


operator_auth = permitted(OPERATOR)
user_auth = [AdminKey(), UserSession()]
