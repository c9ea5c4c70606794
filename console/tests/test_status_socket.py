"""The status page's WebSocket: staff only, relays the provider_health group."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from console.consumers import HEALTH_GROUP, StatusConsumer

pytestmark = pytest.mark.django_db(transaction=True)

EVENT = {
    "type": "provider.health",
    "provider": {
        "id": 1,
        "name": "fake",
        "status": "timeout",
        "is_healthy": False,
        "latency_ms": None,
        "last_tested_at": "2026-01-01T00:00:00+00:00",
    },
}


def communicator(user) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    socket = WebsocketCommunicator(StatusConsumer.as_asgi(), "/ws/status/")
    socket.scope["user"] = user
    return socket


async def test_staff_receive_provider_health_changes(staff) -> None:  # type: ignore[no-untyped-def]
    socket = communicator(staff)
    connected, _ = await socket.connect()
    assert connected
    await get_channel_layer().group_send(HEALTH_GROUP, EVENT)
    assert await socket.receive_json_from(timeout=2) == EVENT
    await socket.disconnect()


async def test_a_ping_gets_a_pong(staff) -> None:  # type: ignore[no-untyped-def]
    socket = communicator(staff)
    await socket.connect()
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=2) == {"type": "pong"}
    await socket.disconnect()


async def test_non_staff_users_are_turned_away(alice) -> None:  # type: ignore[no-untyped-def]
    socket = communicator(alice)
    connected, code = await socket.connect()
    assert not connected
    assert code == 4403


async def test_anonymous_visitors_are_turned_away(db) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import AnonymousUser

    connected, _ = await communicator(AnonymousUser()).connect()
    assert not connected


async def test_the_path_is_routed_in_the_asgi_application(staff) -> None:  # type: ignore[no-untyped-def]
    from console.routing import websocket_urlpatterns

    assert [str(p.pattern) for p in websocket_urlpatterns] == ["ws/status/"]


async def test_staff_without_view_provider_are_turned_away(django_user_model) -> None:  # type: ignore[no-untyped-def]
    from channels.db import database_sync_to_async

    clerk = await database_sync_to_async(django_user_model.objects.create_user)(
        "clerk", is_staff=True
    )
    connected, code = await communicator(clerk).connect()
    assert not connected and code == 4403
