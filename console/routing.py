from __future__ import annotations

from django.urls import URLPattern, path

from console.consumers import StatusConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/status/", StatusConsumer.as_asgi()),
]
