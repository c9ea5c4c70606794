"""usage test fixtures: the fake upstreams (chat/tests/upstreams.py)."""

from __future__ import annotations

from chat.tests.upstreams import fake_openai

__all__ = ["fake_openai"]
