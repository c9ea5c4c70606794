"""Google Gemini generateContent / streamGenerateContent ↔ OpenAI chat completions.

Reference: https://ai.google.dev/api/generate-content. A stream (`alt=sse`) is a series of
whole GenerateContentResponse objects, each holding the next parts; the last one carries
finishReason and usageMetadata, and there is no [DONE] sentinel.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlparse

from chat.adapters.base import (
    Adapter,
    StreamTranslator,
    UpstreamError,
    UpstreamRequest,
    classify_status,
    completion_id,
    content_parts,
    error_text,
    event_object,
    function_tools,
    is_http_url,
    join_url,
    load_json,
    max_tokens,
    messages_of,
    parse_data_url,
    parse_duration,
    stop_sequences,
    text_of,
    tool_arguments,
    tool_calls,
    usage_dict,
)
from chat.adapters.sse import SSEEvent

FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)

# reasoning_effort → thinkingConfig.thinkingBudget (tokens), as DESIGN.md maps it.
THINKING_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

# The subset of OpenAPI 3.0 Schema that Gemini's `Schema` object accepts; JSON Schema
# keywords outside it (additionalProperties, $schema, strict...) make the request fail.
SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum",
    }
)  # fmt: skip


class GeminiAdapter(Adapter):
    kind = "gemini"
    supports_stream_usage = True  # every stream chunk carries usageMetadata

    def build_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any], stream: bool
    ) -> UpstreamRequest:
        system, contents = translate_contents(messages_of(body))
        payload: dict[str, Any] = {"contents": contents}
        if system:
            payload["systemInstruction"] = {"parts": [{"text": system}]}
        if config := generation_config(body):
            payload["generationConfig"] = config
        payload.update(tools(body))
        model_path = quote(model.removeprefix("models/"), safe="/-._")
        action = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        return UpstreamRequest(
            url=join_url(base_url, f"/models/{model_path}{action}"),
            headers={"x-goog-api-key": api_key, "Content-Type": "application/json"},
            json=payload,
        )

    def parse_response(self, payload: dict[str, Any], *, model: str) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise UpstreamError(502, "Upstream response is not an object", retryable=True)
        if isinstance(payload.get("error"), dict):
            raise in_stream_error(payload["error"])
        candidates = [c for c in payload.get("candidates") or [] if isinstance(c, dict)]
        choices = [choice(candidate, number) for number, candidate in enumerate(candidates)]
        if not choices:
            # The prompt itself was blocked (promptFeedback.blockReason): nothing to say.
            choices = [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ""},
                    "finish_reason": "content_filter",
                }
            ]
        return {
            "id": payload.get("responseId") or completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("modelVersion") or model,
            "choices": choices,
            "usage": usage(payload.get("usageMetadata") or {}),
        }

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        data = load_json(body)
        if isinstance(data, list) and data:  # streamGenerateContent without alt=sse
            data = data[0]
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return classify_status(status, error_text(body), headers)
        return classify_status(
            status,
            str(error.get("message") or error_text(body)),
            headers,
            retry_after=retry_delay(error),
            auth=bad_key(error),
        )

    def stream_translator(self, *, model: str, include_usage: bool) -> StreamTranslator:
        return GeminiStreamTranslator(model=model, include_usage=include_usage)


# --- request ---------------------------------------------------------------------------


def translate_contents(
    messages: list[tuple[str, dict[str, Any]]],
) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI messages → (systemInstruction text, Gemini contents with roles user/model).

    Tool results are user turns holding functionResponse parts, named after the call they
    answer; consecutive turns of one role are merged since Gemini wants them alternating.
    """
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for param, message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            if text := text_of(message.get("content"), f"{param}.content"):
                system.append(text)
            continue
        if role == "user":
            parts = user_parts(message.get("content"), f"{param}.content")
        elif role == "assistant":
            role, parts = "model", model_parts(message, param, call_names)
        elif role in ("tool", "function"):  # "function": OpenAI's deprecated tool results
            role, parts = "user", [function_response(message, param, call_names)]
        else:
            raise UpstreamError.bad_request(f"unsupported role {role!r}", f"{param}.role")
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return "\n\n".join(system), contents


def user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    parts = []
    for number, part in enumerate(content_parts(content, param)):
        if part["type"] == "text":
            parts.append({"text": part["text"]})
        else:
            parts.append(image_part(part["image_url"]["url"], f"{param}[{number}].image_url.url"))
    return parts


def image_part(url: str, param: str) -> dict[str, Any]:
    data_url = parse_data_url(url, param)
    if data_url is not None:
        mime_type, data = data_url
        return {"inlineData": {"mimeType": mime_type, "data": data}}
    if is_http_url(url):
        mime_type = mimetypes.guess_type(urlparse(url).path)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime_type, "fileUri": url}}
    raise UpstreamError.bad_request("images must be data: or http(s) URLs", param)


def model_parts(
    message: dict[str, Any], param: str, call_names: dict[str, str]
) -> list[dict[str, Any]]:
    text = text_of(message.get("content"), f"{param}.content")
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for number, call in enumerate(tool_calls(message, param)):
        name = call["function"].get("name") or ""
        if call.get("id"):
            call_names[call["id"]] = name
        args = tool_arguments(call, f"{param}.tool_calls[{number}]")
        parts.append({"functionCall": {"name": name, "args": args}})
    return parts


def function_response(
    message: dict[str, Any], param: str, call_names: dict[str, str]
) -> dict[str, Any]:
    name = call_names.get(message.get("tool_call_id") or "") or message.get("name")
    if not name:
        raise UpstreamError.bad_request(
            "tool message answers no earlier tool call", f"{param}.tool_call_id"
        )
    text = text_of(message.get("content"), f"{param}.content")
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    # functionResponse.response must be an object; anything else goes under "content".
    response = result if isinstance(result, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for openai_name, gemini_name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
    ):
        if isinstance(body.get(openai_name), int | float):
            config[gemini_name] = body[openai_name]
    if (limit := max_tokens(body)) is not None:
        config["maxOutputTokens"] = limit
    if stops := stop_sequences(body):
        config["stopSequences"] = stops
    config.update(response_format(body.get("response_format")))
    if (budget := THINKING_BUDGETS.get(body.get("reasoning_effort") or "")) is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    return config


def response_format(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("json_object", "json_schema"):
        return {}
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    spec = value.get("json_schema") if value["type"] == "json_schema" else None
    if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        config["responseSchema"] = gemini_schema(spec["schema"])
    return config


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema reduced to what Gemini's Schema object accepts."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "type" and isinstance(value, list):
            # ["string", "null"] is JSON Schema's nullable; Gemini wants one type + nullable.
            types = [t for t in value if t != "null"]
            value = types[0] if types else "string"
            if "null" in schema["type"]:
                out["nullable"] = True
        if key == "properties" and isinstance(value, dict):
            value = {
                name: gemini_schema(sub) for name, sub in value.items() if isinstance(sub, dict)
            }
        elif key == "items" and isinstance(value, dict):
            value = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            value = [gemini_schema(sub) for sub in value if isinstance(sub, dict)]
        out[key] = value
    return out


def tools(body: dict[str, Any]) -> dict[str, Any]:
    functions = function_tools(body)
    if not functions:
        return {}
    declarations = []
    for function in functions:
        declaration = {"name": function["name"], "description": function.get("description") or ""}
        parameters = function.get("parameters")
        # An object without properties is rejected by Gemini; a function without
        # parameters is how it spells "takes no arguments".
        if isinstance(parameters, dict) and parameters.get("properties"):
            declaration["parameters"] = gemini_schema(parameters)
        declarations.append(declaration)
    params: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if config := function_calling_config(body.get("tool_choice")):
        params["toolConfig"] = {"functionCallingConfig": config}
    return params


def function_calling_config(choice: Any) -> dict[str, Any]:
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    if isinstance(choice, str) and choice in modes:
        return {"mode": modes[choice]}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name", "")]}
    return {}


# --- response ----------------------------------------------------------------------------


def choice(candidate: dict[str, Any], number: int) -> dict[str, Any]:
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(
        p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
    )
    calls = [tool_call(p["functionCall"]) for p in parts if isinstance(p.get("functionCall"), dict)]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    if thoughts := thought_text(parts):
        message["reasoning_content"] = thoughts
    return {
        "index": candidate.get("index", number),
        "message": message,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
    }


def thought_text(parts: list[dict[str, Any]]) -> str:
    """The thought summaries (includeThoughts), which OpenAI clients read as reasoning."""
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and p.get("thought"))


def tool_call(call: dict[str, Any]) -> dict[str, Any]:
    return {
        # Gemini names calls only in newer API versions; OpenAI clients need an id to answer.
        "id": call.get("id") or f"call_{completion_id().removeprefix('chatcmpl-')}",
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": json.dumps(call.get("args") or {})},
    }


def finish_reason(reason: str | None, called_tools: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in FILTERED:
        return "content_filter"
    return "tool_calls" if called_tools else "stop"


def usage(metadata: dict[str, Any]) -> dict[str, Any]:
    prompt = int(metadata.get("promptTokenCount") or 0)
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    completion = int(metadata.get("candidatesTokenCount") or 0) + thoughts
    details: dict[str, Any] = {}
    if metadata.get("cachedContentTokenCount"):
        details["prompt_tokens_details"] = {"cached_tokens": metadata["cachedContentTokenCount"]}
    if thoughts:
        details["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    result = usage_dict(prompt, completion, **details)
    if metadata.get("totalTokenCount"):
        result["total_tokens"] = int(metadata["totalTokenCount"])
    return result


def retry_delay(error: dict[str, Any]) -> float | None:
    """google.rpc.RetryInfo in the error details: how long Gemini asks us to wait."""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(detail.get("retryDelay"))
    return None


def bad_key(error: dict[str, Any]) -> bool:
    """Gemini answers an invalid key with 400 INVALID_ARGUMENT; the reason gives it away."""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason") in (
            "API_KEY_INVALID",
            "API_KEY_EXPIRED",
        ):
            return True
    return False


def in_stream_error(error: dict[str, Any]) -> UpstreamError:
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    message = str(error.get("message") or error.get("status") or "Upstream reported an error")
    return classify_status(status, message, {}, retry_after=retry_delay(error), auth=bad_key(error))


class GeminiStreamTranslator(StreamTranslator):
    def __init__(self, *, model: str, include_usage: bool) -> None:
        super().__init__(model=model, include_usage=include_usage)
        self._tool_calls = 0

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = event_object(event)
        if data is None:
            return []
        if isinstance(data.get("error"), dict):
            raise in_stream_error(data["error"])
        if not self._role_sent:
            self.id = data.get("responseId") or self.id
            self.model = data.get("modelVersion") or self.model
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = usage(data["usageMetadata"])
        chunks = []
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        for number, candidate in enumerate(candidates):
            chunks.extend(self._candidate(candidate, candidate.get("index", number)))
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            chunks.append(self._finish("SAFETY", 0))
        if self.done:
            chunks.extend(self.usage_chunk())
        return chunks

    def _candidate(self, candidate: dict[str, Any], index: int) -> list[dict[str, Any]]:
        parts = (candidate.get("content") or {}).get("parts") or []
        delta: dict[str, Any] = {}
        text = "".join(
            p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
        )
        if text:
            delta["content"] = text
        if thoughts := thought_text(parts):
            delta["reasoning_content"] = thoughts
        calls = [
            tool_call(p["functionCall"]) for p in parts if isinstance(p.get("functionCall"), dict)
        ]
        if calls:
            delta["tool_calls"] = [
                {"index": self._tool_calls + n, **c} for n, c in enumerate(calls)
            ]
            self._tool_calls += len(calls)
        chunks = [self.chunk(delta, index=index)] if delta else []
        if candidate.get("finishReason"):
            chunks.append(self._finish(candidate["finishReason"], index))
        return chunks

    def _finish(self, reason: str, index: int) -> dict[str, Any]:
        self.done = True
        self.finish_reason = finish_reason(reason, self._tool_calls > 0)
        return self.chunk({}, self.finish_reason, index=index)
