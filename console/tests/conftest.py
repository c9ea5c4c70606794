"""Console fixtures: logged-in clients for alice and bob, a profile, a session."""

from __future__ import annotations

import pytest

# The browser fixtures (live server, Chromium, logged-in pages), for every test_browser_*.py.
from console.tests.browser import browser, desktop, live, page  # noqa: F401


@pytest.fixture(autouse=True)
def _no_workers_to_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restore in a test has no web worker to give time to see its maintenance;
    console/tests/test_serve.py restores with real ones."""
    from lifecycle import maintenance

    monkeypatch.setattr(maintenance, "SETTLE_SECONDS", 0.0)


@pytest.fixture
def terse(db):  # type: ignore[no-untyped-def]
    """A shared profile."""
    from console.models import Profile

    return Profile.objects.create(
        name="terse", system_prompt="Answer in one line.", temperature=0.2, max_tokens=64
    )


@pytest.fixture
def alices_chat(alice):  # type: ignore[no-untyped-def]
    from console.models import Session

    return Session.objects.create(user=alice, title="Alice's chat", model="fake/echo")


# --- a real fake OpenAI-compatible upstream on 127.0.0.1 -------------------------------

FAKE_MODELS = ["echo", "slow", "broken", "flaky", "vision"]


class ScriptedByModel:
    """An OpenAI-compatible server with scripted behaviour per model name.

    echo: "You said: <text>" word by word; slow: 40 words 0.1 s apart (to stop);
    broken: 503; flaky: breaks the connection after two words; vision: counts images.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.url = ""
        self._loop = None
        self._runner = None

    @staticmethod
    def last_user_text(body: dict) -> tuple[str, int]:
        user = [m for m in body["messages"] if m["role"] == "user"][-1]
        content = user["content"]
        if isinstance(content, str):
            return content, 0
        text = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        return text, sum(1 for p in content if p.get("type") == "image_url")

    def reply_words(self, body: dict) -> list[str]:
        text, images = self.last_user_text(body)
        if body["model"] == "slow":
            return [f"word{n} " for n in range(40)]
        if body["model"] == "vision":
            return ["I ", "see ", f"{images} ", "image(s)."]
        return [w + " " for w in f"You said: {text}".split()]

    @staticmethod
    def chunk(model: str, delta: dict, finish: str | None = None) -> bytes:
        import json

        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    async def chat(self, request):  # type: ignore[no-untyped-def]
        import asyncio
        import json

        from aiohttp import web

        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model == "broken":
            error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
            return web.json_response(error, status=503)
        words = self.reply_words(body)
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {
                        "prompt_tokens": 7,
                        "completion_tokens": len(words),
                        "total_tokens": 7 + len(words),
                    },
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(self.chunk(model, {"role": "assistant", "content": ""}))
        for n, word in enumerate(words):
            await response.write(self.chunk(model, {"content": word}))
            if model == "flaky" and n == 1:
                request.transport.close()
                return response
            await asyncio.sleep(0.1 if model == "slow" else 0.005)
        await response.write(self.chunk(model, {}, "stop"))
        usage = {
            "prompt_tokens": 7,
            "completion_tokens": len(words),
            "total_tokens": 7 + len(words),
        }
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        return response

    async def models(self, request):  # type: ignore[no-untyped-def]
        from aiohttp import web

        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in FAKE_MODELS]}
        )

    def start(self) -> None:
        import asyncio
        import threading

        from aiohttp import web

        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self.chat)
            app.router.add_get("/v1/models", self.models)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name="fake-llm").start()
        ready.wait(10)

    def stop(self) -> None:
        import asyncio

        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(scope="session")
def fake_llm_server():  # type: ignore[no-untyped-def]
    server = ScriptedByModel()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server):  # type: ignore[no-untyped-def]
    fake_llm_server.requests.clear()
    return fake_llm_server


@pytest.fixture
def fake_provider(fake_llm, transactional_db):  # type: ignore[no-untyped-def]
    """Provider "fake" serving the scripted models, priced in the catalog."""
    from providers.models import ModelInfo, Provider

    provider = Provider.objects.create(
        name="fake",
        kind="openai_compatible",
        base_url=f"{fake_llm.url}/v1",
        api_key="sk-fake-upstream",
        models=FAKE_MODELS,
    )
    for model in FAKE_MODELS:
        ModelInfo.objects.create(
            provider=provider,
            model_id=model,
            context_length=8192,
            prompt_price="0.000001",
            completion_price="0.000002",
            supports_vision=model == "vision",
        )
    return provider
