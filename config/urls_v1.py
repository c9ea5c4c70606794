"""The URLconf of the /v1 handler (config/gateway_handler.py): just the gateway's routes,
so resolving a request does not walk the admin's and the console's patterns first.
config/urls.py mounts the same routes for everything else (the test client, runserver)."""

from __future__ import annotations

from django.urls import path, re_path

from chat.api import unknown_endpoint
from config.api import v1

urlpatterns = [
    path("v1/", v1.urls),
    re_path(r"^v1(?:/(?P<rest>.*))?$", unknown_endpoint),
]
