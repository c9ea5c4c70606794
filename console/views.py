"""Console pages: the chat (with its playground mode), usage and status.

Pages are shells; their data comes from /api through plain ES modules in static/console.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from providers.models import Provider


@login_required
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/chat.html", {"page": "chat"})


@login_required
@ensure_csrf_cookie
def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "console/usage.html", {"page": "usage"})


@permission_required("providers.view_provider", login_url="console:login")
@ensure_csrf_cookie
def status(request: HttpRequest) -> HttpResponse:
    providers = Provider.objects.order_by("name")
    return render(request, "console/status.html", {"page": "status", "providers": providers})
