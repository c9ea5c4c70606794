"""Console pages: the chat (with its playground mode), usage, keys and status.

Pages are shells; their data comes from /api through plain ES modules in static/console.
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from providers.models import Provider
from routing.models import Route

# Mermaid (static/console/diagrams.js) styles the diagrams it draws with a <style> element
# and style="" attributes; nothing else on the page needs inline styles, and the model's
# HTML can bring neither (DOMPurify drops them). Scripts stay 'self' only.
MERMAID_STYLES = {"style-src-elem": [SELF, UNSAFE_INLINE], "style-src-attr": [UNSAFE_INLINE]}


@login_required
@ensure_csrf_cookie
@csp_update(MERMAID_STYLES)
def home(request: HttpRequest, session_id: str = "") -> HttpResponse:
    """The chat page; `/c/<session_id>` is the same page, whose script opens that session."""
    return render(request, "console/chat.html", {"page": "chat"})


@login_required
@ensure_csrf_cookie
def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "console/usage.html", {"page": "usage"})


@login_required
@ensure_csrf_cookie
def keys(request: HttpRequest) -> HttpResponse:
    """A user's own gateway keys (self-service through /api/keys)."""
    return render(
        request,
        "console/keys.html",
        {
            "page": "keys",
            "max_keys": settings.MAX_KEYS_PER_USER,
            "example_model": example_model(),
        },
    )


def example_model() -> str:
    """What the snippets ask for: a route name if there is one, else a provider's model."""
    route = Route.objects.filter(is_active=True).order_by("name").first()
    if route is not None:
        return route.name
    provider = Provider.objects.filter(is_active=True).exclude(models=[]).order_by("name").first()
    return f"{provider.name}/{provider.models[0]}" if provider else "MODEL"


@permission_required("providers.view_provider", login_url="console:login")
@ensure_csrf_cookie
def status(request: HttpRequest) -> HttpResponse:
    providers = Provider.objects.order_by("name")
    context = {"page": "status", "providers": providers, "counters_shared": counters_shared()}
    return render(request, "console/status.html", context)


def counters_shared() -> bool:
    """Whether console/stats.py's counters add up every process's requests (they live in
    the cache: Redis is shared, the in-memory cache is each process's own)."""
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()
