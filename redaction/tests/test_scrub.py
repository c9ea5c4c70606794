"""The one scrubber for upstream text that reaches a person."""

from __future__ import annotations

import pytest

from redaction import REDACTED, SCRUB_LIMIT, register_secret, scrub

SHAPELESS = "plain-provider-key-0042"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer {key}",
        "x-api-key: {key}",
        "x-goog-api-key: {key}",
        "GET /v1beta/models?key={key}",
        "request failed: key={key}",
        '{{"api_key": "{key}"}}',
    ],
)
def test_header_and_parameter_forms_are_redacted(text: str) -> None:
    out = scrub(text.format(key="opaque-value-31337"))
    assert "opaque-value-31337" not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-Abc123def456GHI789jkl012",
        "sk-ant-api03-Abc123def456GHI789jkl",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    ],
)
def test_common_key_shapes_are_redacted_anywhere(key: str) -> None:
    assert (
        scrub(f"Incorrect API key provided: {key}.") == f"Incorrect API key provided: {REDACTED}."
    )


def test_given_provider_keys_are_redacted_whatever_their_shape() -> None:
    assert scrub(f"bad key {SHAPELESS}!", [SHAPELESS]) == f"bad key {REDACTED}!"


def test_keys_this_process_decrypted_are_redacted_without_being_given() -> None:
    register_secret("registered-key-77aa")
    assert "registered-key-77aa" not in scrub("echo registered-key-77aa")


def test_the_text_is_cut_after_scrubbing() -> None:
    text = "x" * (SCRUB_LIMIT - 5) + SHAPELESS  # the key straddles the cut
    out = scrub(text, [SHAPELESS])
    assert len(out) <= SCRUB_LIMIT
    assert SHAPELESS[:5] not in out


def test_ordinary_text_is_left_alone() -> None:
    text = "model=gpt-4o-mini tokens=12 monkey=3: the context window is too small"
    assert scrub(text) == text
