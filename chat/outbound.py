"""What the gateway does so that a hostile or broken upstream cannot hurt its clients.

- Redirects are never followed (aiohttp would resend `x-api-key` and the prompt to the
  new host): a 3xx is an upstream error worth the next candidate, like a 5xx.
- Non-streamed bodies are read in chunks up to `MAX_UPSTREAM_BODY_BYTES`; past that the
  attempt fails (retryable) instead of growing the worker by the body's size.
- Error text is scrubbed (redaction.scrub) of every configured provider key before it can
  reach a client, a console user or a log line.
"""

from __future__ import annotations

import logging

import aiohttp

import redaction
from chat.adapters.base import UpstreamError
from chat.errors import GatewayError
from providers import url_policy

logger = logging.getLogger("switchboard.gateway")

MAX_UPSTREAM_BODY_BYTES = 50 * 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024


def refuse_redirect(response: aiohttp.ClientResponse, provider: str) -> None:
    """Raise for a 3xx: the key must not follow a Location header anywhere."""
    if 300 <= response.status < 400:
        raise UpstreamError(
            502,
            f"{provider} answered with a redirect ({response.status}); "
            "Switchboard does not follow upstream redirects.",
            code="upstream_redirect",
            retryable=True,
        )


async def read_capped(response: aiohttp.ClientResponse, provider: str) -> bytes:
    """The whole body, or a retryable UpstreamError once it passes MAX_UPSTREAM_BODY_BYTES
    (the connection is dropped rather than drained)."""
    limit = MAX_UPSTREAM_BODY_BYTES
    declared = response.content_length
    if declared is not None and declared > limit:
        raise _too_large(provider, limit)
    parts: list[bytes] = []
    size = 0
    async for part in response.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(part)
        if size > limit:
            response.close()
            raise _too_large(provider, limit)
        parts.append(part)
    return b"".join(parts)


def _too_large(provider: str, limit: int) -> UpstreamError:
    return UpstreamError(
        502,
        f"{provider} sent a response larger than {limit} bytes.",
        code="upstream_response_too_large",
        retryable=True,
    )


def policy_refusal(exc: BaseException, provider: str) -> UpstreamError | None:
    """The upstream error for a connection PROVIDER_URL_POLICY refused, if it was that."""
    reason = getattr(exc, "os_error", None)
    if not isinstance(reason, url_policy.URLRefused):
        return None
    return UpstreamError(
        502,
        f"Switchboard refused to connect to {provider}: {reason}",
        code="upstream_address_refused",
        retryable=True,
    )


def scrubbed(error: UpstreamError, provider_keys: tuple[str, ...]) -> UpstreamError:
    """`error` with its message scrubbed of `provider_keys` (and every key this process
    decrypted), key forms and shapes, cut to 500 characters. Changes it in place: the
    unscrubbed text must not survive anywhere."""
    error.message = redaction.scrub(error.message, provider_keys)
    error.args = (error.message,)
    return error


# What a console user reads when the upstream failed: the code says the rest, and the
# upstream's own (scrubbed) text goes to the log, where an operator can read it.
PLAIN_MESSAGES = {
    "upstream_auth_failed": "The provider rejected Switchboard's credentials; "
    "an operator must fix the provider key.",
    "rate_limited": "The provider is rate limiting requests; try again shortly.",
    "upstream_timeout": "The provider did not answer in time.",
    "upstream_unreachable": "The provider could not be reached.",
    "model_not_found": "The provider does not know this model.",
}


def plain_message(error: GatewayError) -> str:
    """Switchboard's own messages as they are; an upstream's replaced by a plain one."""
    if not isinstance(error, UpstreamError):
        return error.message
    if error.code in PLAIN_MESSAGES:
        return PLAIN_MESSAGES[error.code]
    if error.status < 500:
        return f"The provider refused the request ({error.status})."
    return "The provider failed to answer."


def log_for_operator(error: GatewayError, where: str) -> None:
    """The detail a person was spared, for the logs (scrubbed there once more)."""
    logger.warning(
        "%s: %s (%s)",
        where,
        error.message,
        error.code,
        extra={"code": error.code, "status": error.status},
    )
