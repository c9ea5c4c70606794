"""OpenAI's embeddings API as a client dialect (DESIGN.md "Other dialects").

The request is checked and its `input` normalised to a list (of strings, or of token
arrays); the adapters of the providers that embed (`can_embed`) turn it into their own
request and their answer back into OpenAI's list. `encoding_format: base64` is honoured
for every upstream: float vectors are packed here as little-endian float32, as OpenAI
does. Reference: https://platform.openai.com/docs/api-reference/embeddings. No I/O here.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from chat.errors import bad_request

CHARS_PER_TOKEN = 4
FORMATS = ("float", "base64")
FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def parse_request(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' must be a non-empty string.", "model")
    for name in body:
        if name not in FIELDS:
            raise bad_request(f"'{name}' is not an embeddings parameter.", name)
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise bad_request("'dimensions' must be a positive integer.", "dimensions")
    if body.get("encoding_format", "float") not in FORMATS:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    return {**body, "input": inputs(body.get("input"))}


def inputs(value: Any) -> list[str | list[int]]:
    """A string, a list of strings, one token array or a list of token arrays → a list."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value:
        if all(_token(x) for x in value):
            return [value]
        if all(isinstance(x, str) and x for x in value):
            return list(value)
        if all(isinstance(x, list) and x and all(_token(t) for t in x) for x in value):
            return list(value)
    raise bad_request(
        "'input' must be a non-empty string, array of strings, or array of token arrays.",
        "input",
    )


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def estimate_input_tokens(body: dict[str, Any]) -> int:
    total = 0
    for item in body.get("input") or []:
        total += len(item) if isinstance(item, list) else max(1, len(item) // CHARS_PER_TOKEN)
    return max(1, total)


def for_client(answer: dict[str, Any], body: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI embeddings list, vectors packed when base64 was asked for."""
    packed = body.get("encoding_format") == "base64"
    data = []
    for item in answer["data"]:
        vector = item.get("embedding")
        if packed and isinstance(vector, list):
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": item.get("index", len(data)),
                     "embedding": vector})  # fmt: skip
    return {"object": "list", "data": data, "model": model, "usage": answer.get("usage")}
