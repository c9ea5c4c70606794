from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from console import health

health_router = Router(tags=["health"])
# Console endpoints (profiles, sessions, messages, chat stream): any logged-in user.
router = Router(tags=["console"])


@health_router.get("/health", auth=None, response={200: dict, 503: dict})
def api_health(request: HttpRequest) -> Status[dict[str, Any]]:
    return Status(*health.report())
