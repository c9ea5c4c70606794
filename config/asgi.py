"""ASGI entry point: /v1 on its own lean handler, everything else on Django's, WebSockets
through channels."""

from __future__ import annotations

import gc
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.key_gate import guard_keys  # noqa: E402
from config.body_limits import limit_body, send_refusal  # noqa: E402
from config.cors import refusals_with_cors  # noqa: E402
from config.gateway_handler import GatewayHandler, is_gateway_path  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402
from lifecycle import maintenance  # noqa: E402

# Bodies are bounded before anything reads them (config/body_limits.py); on /v1 the key is
# checked from the headers first, so an unauthenticated client cannot make us read one.
gateway_asgi = refusals_with_cors(guard_keys(limit_body(GatewayHandler()), send_refusal))
django_http = limit_body(django_asgi)


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    # Known as in flight, so a restore's maintenance waits for it (lifecycle.maintenance).
    if is_gateway_path(scope["path"]):
        await maintenance.counted(gateway_asgi(scope, receive, send))
    else:
        await maintenance.counted(django_http(scope, receive, send))


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI lifespan: health probes beside the requests (providers.prober); on shutdown,
    stop them and close this loop's upstream connections cleanly."""
    from chat.http import aclose_session
    from providers import prober

    probes = watcher = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            probes = prober.start()
            if settings.ASGI_WORKER:  # a web worker of serve (not an in-process test server)
                watcher = maintenance.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for task in (probes, watcher):
                if task is not None:
                    task.cancel()
            await aclose_session()
            await send({"type": "lifespan.shutdown.complete"})
            return


# Everything loaded so far (Django, the apps, the URLconf) lives as long as the process:
# moving it out of the collector's generations keeps full collections from rescanning it,
# which showed up as the tail of the /v1 latency under load.
gc.freeze()

application = ProtocolTypeRouter(
    {
        "lifespan": lifespan,
        "http": http,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
