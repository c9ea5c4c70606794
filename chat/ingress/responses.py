"""OpenAI's Responses API as a client dialect (DESIGN.md "Other dialects").

For upstreams that do not speak Responses (every kind but `openai`): the request's input
items, with the earlier turns of `previous_response_id` before them, become the internal
OpenAI chat completions body, and the internal completion or chunk stream becomes a
Response object or the Responses event sequence (response.created ... response.completed,
each with a sequence_number). Reference:
https://platform.openai.com/docs/api-reference/responses. No I/O here.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import orjson

from chat.adapters.base import UpstreamError
from chat.errors import GatewayError, bad_request

CHARS_PER_TOKEN = 4

# Request fields a translated call carries over (each handled in to_chat), and those that
# only concern the response object Switchboard builds (stored, echoed) or OpenAI's own
# service and change nothing in the answer.
TRANSLATED = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "text", "reasoning",
        "max_output_tokens", "temperature", "top_p", "stream", "parallel_tool_calls", "user",
    }
)  # fmt: skip
# (`include` asks for extra output fields, `prompt_cache_key` / `service_tier` /
# `safety_identifier` steer OpenAI's service; Codex sends them with every request.)
# Reasoning items Switchboard made from another provider's reasoning text: OpenAI does not
# know them, so they stay out of what a later turn sends to an `openai` provider.
OWN_REASONING = "rs_switchboard_"
ECHOED = frozenset(
    {
        "store", "previous_response_id", "metadata", "include", "truncation",
        "prompt_cache_key", "service_tier", "safety_identifier", "stream_options",
    }
)  # fmt: skip
STATUS_BY_FINISH = {"length": "incomplete", "content_filter": "incomplete"}
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def unsupported(message: str, param: str) -> UpstreamError:
    return UpstreamError(
        400, message, code="unsupported_parameter", type="invalid_request_error", param=param
    )


# --- the request ------------------------------------------------------------------------


def parse_request(raw: bytes) -> dict[str, Any]:
    """The client's Responses body, checked as far as every upstream needs; the input as
    items (a string becomes one user message)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' must be a non-empty string.", "model")
    items = input_items(body.get("input"))
    for number, item in enumerate(items):
        _check_item(item, f"input[{number}]")
    if not isinstance(body.get("stream", False), bool):
        raise bad_request("'stream' must be a boolean.", "stream")
    if not isinstance(body.get("store", True), bool):
        raise bad_request("'store' must be a boolean.", "store")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise bad_request("'previous_response_id' must be a response id.", "previous_response_id")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad_request("'instructions' must be a string.", "instructions")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise bad_request("'max_output_tokens' must be a positive integer.", "max_output_tokens")
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high
        ):
            raise bad_request(f"'{name}' must be a number between 0 and {high}.", name)
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        raise bad_request("'tools' must be an array of tool objects.", "tools")
    for name in ("text", "reasoning", "metadata"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise bad_request(f"'{name}' must be an object.", name)
    return {**body, "input": items}


def input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad_request("'input' must be a string or a non-empty array of items.", "input")
    return value


def _check_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    kind = item.get("type", "message")
    if kind == "message":
        if item.get("role") not in ("user", "assistant", "system", "developer"):
            raise bad_request(
                f"'{where}.role' must be user, assistant, system or developer.", f"{where}.role"
            )
        content = item.get("content")
        if not isinstance(content, str | list):
            raise bad_request(f"'{where}.content' must be a string or an array.", where)
    elif kind == "function_call":
        for name in ("call_id", "name"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise bad_request(f"'{where}.{name}' must be a string.", f"{where}.{name}")
    elif kind == "function_call_output" and not isinstance(item.get("call_id"), str):
        raise bad_request(f"'{where}.call_id' must be a string.", f"{where}.call_id")


def to_chat(body: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The internal (OpenAI chat completions) request for a provider that does not speak
    Responses: `history` (the earlier turns' items) then this request's input. Raises
    UpstreamError (400 unsupported_parameter) for what chat completions cannot carry."""
    for name in body:
        if name not in TRANSLATED and name not in ECHOED:
            raise unsupported(f"'{name}' cannot be translated for this provider", name)
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(chat_messages([*history, *body["input"]]))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("tools"):
        chat["tools"] = [_chat_tool(tool, f"tools[{n}]") for n, tool in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _chat_tool_choice(body["tool_choice"])
    if fmt := _response_format((body.get("text") or {}).get("format")):
        chat["response_format"] = fmt
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        chat["reasoning_effort"] = "low" if effort == "minimal" else effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries usage
    return chat


def chat_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses items → chat messages; consecutive function calls join one assistant
    message, as chat completions wants them."""
    messages: list[dict[str, Any]] = []
    for number, item in enumerate(items):
        where = f"input[{number}]"
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and not _has_text(last):
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else json.dumps(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        elif kind == "reasoning":
            continue  # earlier reasoning: chat completions has no way to send it back
        else:
            raise unsupported(f"{kind} items cannot be translated for this provider", where)
    return messages


def _has_text(message: dict[str, Any]) -> bool:
    return bool(message.get("content"))


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = "system" if item["role"] == "developer" else item["role"]
    content = item["content"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts: list[dict[str, Any]] = []
    for number, part in enumerate(content):
        param = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal") or ""})
        elif kind == "input_image":
            if not isinstance(part.get("image_url"), str) or not part["image_url"]:
                raise unsupported("input_image needs an image_url here", f"{param}.image_url")
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail") in ("low", "high"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise unsupported(f"{kind} content cannot be translated for this provider", param)
    if role == "assistant" or role == "system":  # text-only roles in chat completions
        return {"role": role, "content": "".join(p.get("text", "") for p in parts)}
    return {"role": role, "content": parts}


def _chat_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise unsupported(f"{tool.get('type')} tools run only at OpenAI", f"{param}.type")
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise bad_request(f"'{param}.name' must be a string.", f"{param}.name")
    function: dict[str, Any] = {
        "name": tool["name"],
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise unsupported("tool_choice must be auto, none, required or a function", "tool_choice")


def _response_format(spec: Any) -> dict[str, Any] | None:
    if spec is None or (isinstance(spec, dict) and spec.get("type") == "text"):
        return None
    if not isinstance(spec, dict):
        raise bad_request("'text.format' must be an object.", "text.format")
    if spec.get("type") == "json_object":
        return {"type": "json_object"}
    if spec.get("type") == "json_schema" and isinstance(spec.get("schema"), dict):
        schema: dict[str, Any] = {"name": spec.get("name") or "output", "schema": spec["schema"]}
        if spec.get("strict") is not None:
            schema["strict"] = spec["strict"]
        if spec.get("description"):
            schema["description"] = spec["description"]
        return {"type": "json_schema", "json_schema": schema}
    raise unsupported("text.format must be text, json_object or json_schema", "text.format")


def estimate_input_tokens(body: dict[str, Any]) -> int:
    counted = {key: body.get(key) for key in ("instructions", "input", "tools")}
    return max(1, len(orjson.dumps(counted)) // CHARS_PER_TOKEN)


# --- the answer -------------------------------------------------------------------------


def usage_of(reported: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI chat usage → Responses usage."""
    reported = reported or {}
    prompt = dict(reported.get("prompt_tokens_details") or {})
    completion = dict(reported.get("completion_tokens_details") or {})
    input_tokens = int(reported.get("prompt_tokens") or 0)
    output_tokens = int(reported.get("completion_tokens") or 0)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": int(prompt.get("cached_tokens") or 0)},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": input_tokens + output_tokens,
    }


def skeleton(body: dict[str, Any], rid: str, model: str, created: int) -> dict[str, Any]:
    """The response object's fields that echo the request."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature"),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _reasoning(part: dict[str, Any]) -> str:
    value = part.get("reasoning_content") or part.get("reasoning")
    return value if isinstance(value, str) else ""


def reasoning_item(text: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": OWN_REASONING + uuid.uuid4().hex[:24],
        "summary": [{"type": "summary_text", "text": text}],
    }


def message_item(
    text: str, status: str = "completed", item_id: str | None = None
) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {
        "type": "message",
        "id": item_id or _item_id("msg"),
        "status": status,
        "role": "assistant",
        "content": content,
    }


def call_item(
    call_id: str, name: str, arguments: str, status: str = "completed", item_id: str | None = None
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id or _item_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def finished(response: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    status = STATUS_BY_FINISH.get(finish_reason or "stop", "completed")
    response["status"] = status
    if status == "incomplete":
        response["incomplete_details"] = {"reason": INCOMPLETE_REASONS[finish_reason or ""]}
    return response


def from_completion(
    completion: dict[str, Any], body: dict[str, Any], rid: str, model: str
) -> dict[str, Any]:
    """An internal chat.completion → a Response object."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if thinking := _reasoning(message):
        output.append(reasoning_item(thinking))
    if message.get("content"):
        output.append(message_item(message["content"]))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments or {})
        output.append(
            call_item(call.get("id") or _item_id("call"), function.get("name") or "", arguments)
        )
    response = skeleton(body, rid, model, int(time.time()))
    response["output"] = output
    response["usage"] = usage_of(completion.get("usage"))
    return finished(response, choice.get("finish_reason"))


def failed(response: dict[str, Any], error: GatewayError) -> dict[str, Any]:
    return {
        **response,
        "status": "failed",
        "error": {"code": error.code, "message": error.message},
    }


def event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventEncoder:
    """Internal chat.completion.chunk dicts → Responses stream events (bytes).

    Output items open as the deltas change kind (reasoning, text, each new tool call) and
    close when the next opens or at `finish()`, which sends response.completed with usage
    (it arrives in the last chunk). Every event carries the next sequence_number.
    """

    def __init__(self, body: dict[str, Any], rid: str, model: str) -> None:
        self.response = skeleton(body, rid, model, int(time.time()))
        self.output: list[dict[str, Any]] = []
        self._sequence = 0
        self._started = False
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text = ""
        self._tools: dict[int, dict[str, Any]] = {}  # tool_calls index → its item
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event(data)

    def start(self) -> bytes:
        self._started = True
        return self._event("response.created", response=self.response) + self._event(
            "response.in_progress", response=self.response
        )

    def feed(self, chunks: list[dict[str, Any]]) -> bytes:
        out: list[bytes] = [] if self._started else [self.start()]
        for chunk in chunks:
            if isinstance(chunk.get("usage"), dict):
                self._usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                out.extend(self._choice(choice))
        return b"".join(out)

    def _choice(self, choice: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        delta = choice.get("delta") or {}
        if thinking := _reasoning(delta):
            out.extend(self._reasoning(thinking))
        if delta.get("content"):
            out.extend(self._text_delta(delta["content"]))
        for call in delta.get("tool_calls") or []:
            out.extend(self._tool_call(call))
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return out

    def _add(self, item: dict[str, Any]) -> bytes:
        self._open = item
        self.output.append(item)
        return self._event(
            "response.output_item.added", output_index=len(self.output) - 1, item=item
        )

    def _reasoning(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open["type"] != "reasoning":
            out.extend(self._close())
            item = {"type": "reasoning", "id": OWN_REASONING + uuid.uuid4().hex[:24], "summary": []}
            out.append(self._add(item))
            self._text = ""
        self._text += text
        index = len(self.output) - 1
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=self._open_id(),
                output_index=index,
                summary_index=0,
                delta=text,
            )  # fmt: skip
        )
        return out

    def _open_id(self) -> str:
        assert self._open is not None
        return str(self._open["id"])

    def _text_delta(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        index = len(self.output) - 1
        if self._open is None or self._open["type"] != "message":
            out.extend(self._close())
            item = message_item("", status="in_progress")
            item["content"] = []
            out.append(self._add(item))
            index = len(self.output) - 1
            part = {"type": "output_text", "text": "", "annotations": []}
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )  # fmt: skip
            )
            self._text = ""
        self._text += text
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=self._open_id(),
                output_index=index,
                content_index=0,
                delta=text,
                logprobs=[],
            )  # fmt: skip
        )
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        number = int(call.get("index") or 0)
        function = call.get("function") or {}
        if number not in self._tools:
            out.extend(self._close())
            item = call_item(
                call.get("id") or _item_id("call"),
                function.get("name") or "",
                "",
                status="in_progress",
            )
            self._tools[number] = item
            out.append(self._add(item))
        item = self._tools[number]
        if function.get("arguments") and item is self._open:
            item["arguments"] += function["arguments"]
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=len(self.output) - 1,
                    delta=function["arguments"],
                )  # fmt: skip
            )
        return out

    def _close(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        index = self.output.index(item)
        out: list[bytes] = []
        if item["type"] == "message":
            part = {"type": "output_text", "text": self._text, "annotations": []}
            out.append(
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=self._text,
                    logprobs=[],
                )  # fmt: skip
            )
            out.append(
                self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )  # fmt: skip
            )
            item["content"] = [part]
        elif item["type"] == "reasoning":
            summary = {"type": "summary_text", "text": self._text}
            out.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    item_id=item["id"],
                    output_index=index,
                    summary_index=0,
                    text=self._text,
                )  # fmt: skip
            )
            item["summary"] = [summary]
        else:
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )  # fmt: skip
            )
        item["status"] = "completed"
        if item["type"] == "reasoning":
            item.pop("status")
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def finish(self) -> bytes:
        out = [] if self._started else [self.start()]
        out.extend(self._close())
        response = finished({**self.response, "output": self.output}, self._finish)
        response["usage"] = usage_of(self._usage)
        self.response = response
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        out.append(self._event(kind, response=response))
        return b"".join(out)

    def fail(self, error: GatewayError) -> bytes:
        out = [] if self._started else [self.start()]
        self.response = failed({**self.response, "output": self.output}, error)
        out.append(self._event("response.failed", response=self.response))
        return b"".join(out)
