"""Live provider health for the status page: users holding providers.view_provider join
the "provider_health" group.

The health checker sends {"type": "provider.health", "provider": {...}} to the group;
each connected page gets the provider as JSON and updates its row.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

HEALTH_GROUP = "provider_health"
VIEW_PROVIDER = "providers.view_provider"


class StatusConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await database_sync_to_async(user.has_perm)(VIEW_PROVIDER):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(HEALTH_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(HEALTH_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page only listens; a ping keeps proxies from closing an idle socket."""
        if content == {"type": "ping"}:
            await self.send_json({"type": "pong"})

    async def provider_health(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "provider.health", "provider": event["provider"]})
