"""The real URLconf plus a view that crashes with secrets in its exception (log tests)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as real_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    authorization = request.headers.get("Authorization", "")
    body = request.body.decode()
    raise RuntimeError(f"upstream refused {authorization} with body {body}")


urlpatterns = [path("boom", boom), *real_urlpatterns]
