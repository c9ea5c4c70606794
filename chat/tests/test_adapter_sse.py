from __future__ import annotations

import pytest

from chat.adapters.sse import MAX_LINE_BYTES, SSEEvent, SSEParser


def feed_all(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    return events


def test_it_parses_named_events_and_unnamed_ones() -> None:
    events = feed_all([b'event: message_stop\ndata: {"type":"message_stop"}\n\ndata: [DONE]\n\n'])
    assert events == [
        SSEEvent(event="message_stop", data='{"type":"message_stop"}'),
        SSEEvent(event=None, data="[DONE]"),
    ]


def test_it_joins_the_data_lines_of_one_event_with_newlines() -> None:
    assert feed_all([b"data: one\ndata: two\n\n"]) == [SSEEvent(None, "one\ntwo")]


def test_it_ignores_comments_ids_and_retry_fields() -> None:
    raw = b": OPENROUTER PROCESSING\n\nid: 7\nretry: 100\ndata: x\n\n"
    assert feed_all([raw]) == [SSEEvent(None, "x")]


def test_it_does_not_dispatch_an_event_without_data() -> None:
    assert feed_all([b"event: ping\n\n"]) == []


def test_the_event_name_does_not_leak_into_the_next_event() -> None:
    events = feed_all([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert [e.event for e in events] == ["a", None]


def test_it_strips_one_space_after_the_colon_and_accepts_none() -> None:
    assert feed_all([b"data:x\n\ndata:  y\n\n"]) == [SSEEvent(None, "x"), SSEEvent(None, " y")]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 13])
def test_events_split_at_any_byte_come_out_the_same(size: int) -> None:
    raw = (
        "event: content_block_delta\r\n"
        'data: {"text": "héllo wörld ✓"}\r\n\r\n'
        ": keep-alive\n\n"
        "data: [DONE]\r\n\r\n"
    ).encode()
    whole = feed_all([raw])
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
    assert feed_all(pieces) == whole
    assert whole[0].data == '{"text": "héllo wörld ✓"}'
    assert len(whole) == 2


def test_a_crlf_split_between_two_chunks_is_one_line_end() -> None:
    events = feed_all([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"])
    assert events == [SSEEvent(None, "a"), SSEEvent(None, "b")]


def test_bare_cr_line_ends_are_line_ends() -> None:
    assert feed_all([b"data: a\r\rdata: b\r\r"]) == [SSEEvent(None, "a"), SSEEvent(None, "b")]


def test_a_leading_byte_order_mark_is_dropped_even_when_split() -> None:
    assert feed_all([b"\xef", b"\xbb\xbfdata: a\n\n"]) == [SSEEvent(None, "a")]


def test_empty_chunks_change_nothing() -> None:
    assert feed_all([b"", b"data: a\r", b"", b"\n\n"]) == [SSEEvent(None, "a")]


def test_close_dispatches_an_unterminated_last_event() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"last": true}') == []
    assert parser.close() == [SSEEvent(None, '{"last": true}')]


def test_close_after_a_complete_stream_yields_nothing() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\n\n")
    assert parser.close() == []


def test_a_line_that_never_ends_is_refused() -> None:
    parser = SSEParser()
    with pytest.raises(ValueError, match="too long"):
        parser.feed(b"data: " + b"x" * (MAX_LINE_BYTES + 1))
