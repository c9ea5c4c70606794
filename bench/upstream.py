"""A fake upstream that answers instantly, for `make bench`.

Run as `python -m bench.upstream PORT`. OpenAI format at /v1: non-streaming requests get
a small chat.completion; streaming ones get STREAM_CHUNKS content chunks, a usage chunk
and [DONE], sent as fast as the socket takes them. Anthropic's Messages at
/anthropic/v1/messages: a Message, or the event sequence with STREAM_CHUNKS text deltas.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

STREAM_CHUNKS = 20

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
    }
).encode()


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM_BODY = (
    _chunk({"role": "assistant", "content": ""})
    + b"".join(_chunk({"content": f"tok{i} "}) for i in range(STREAM_CHUNKS))
    + _chunk({}, "stop")
    + b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
    b'"model":"bench-model","choices":[],"usage":{"prompt_tokens":10,'
    b'"completion_tokens":20,"total_tokens":30}}\n\n' + b"data: [DONE]\n\n"
)
EVENTS = STREAM_BODY.split(b"\n\n")[:-1]


def _event(kind: str, **fields: object) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **fields}).encode()


MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "bench-claude",
    "content": [{"type": "text", "text": "Hello from the bench upstream."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 7},
}
MESSAGE_BODY = json.dumps(MESSAGE).encode()
MESSAGE_EVENTS = [
    _event("message_start", message={**MESSAGE, "content": [], "stop_reason": None}),
    _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    *(
        _event("content_block_delta", index=0, delta={"type": "text_delta", "text": f"tok{i} "})
        for i in range(STREAM_CHUNKS)
    ),
    _event("content_block_stop", index=0),
    _event(
        "message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},
        usage={"output_tokens": STREAM_CHUNKS},
    ),
    _event("message_stop"),
]


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if not body.get("stream"):
        return web.Response(body=MESSAGE_BODY, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in MESSAGE_EVENTS:
        await response.write(event + b"\n\n")
    await response.write_eof()
    return response


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if not body.get("stream"):
        return web.Response(body=COMPLETION, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in EVENTS:
        await response.write(event + b"\n\n")
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "bench-model"}]})


async def stamp(request: web.Request) -> web.StreamResponse:
    """Streams events spaced 20 ms apart, each carrying its send time, so the bench can
    see how long an event takes to cross Switchboard."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(_chunk({"role": "assistant", "content": ""}))
    for _ in range(20):
        await response.write(_chunk({"content": f"{time.time():.6f}"}))
        await asyncio.sleep(0.02)
    await response.write(_chunk({}, "stop") + b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/stamp/v1/chat/completions", stamp)
    app.router.add_post("/anthropic/v1/messages", messages)
    app.router.add_get("/v1/models", models)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
