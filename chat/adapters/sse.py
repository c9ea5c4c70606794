"""An incremental Server-Sent Events parser for upstream streams.

Follows the WHATWG "event stream interpretation" rules: lines end with CRLF, LF or CR;
`data` lines of one event are joined with "\\n"; a blank line dispatches; comments
(":" lines, e.g. OpenRouter's keep-alives) and `id`/`retry` fields are ignored; an event
with no data is not dispatched. Network chunks may split lines, CRLF pairs and UTF-8
characters anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

# One event (its data lines together) or one line may be this large; past it the stream is
# not one we relay (EventTooLarge, an upstream error). Large enough for an inline image.
MAX_EVENT_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = MAX_EVENT_BYTES


class EventTooLarge(ValueError):
    """An upstream line or event over MAX_EVENT_BYTES: the gateway makes it an upstream
    error (failover before the first byte, an error event after it)."""

    def __init__(self) -> None:
        super().__init__(f"upstream stream event too long (over {MAX_EVENT_BYTES} bytes)")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEParser:
    def __init__(self) -> None:
        self._tail = bytearray()  # an unfinished line; extended in place, never re-copied
        self._skip_lf = False  # the last chunk ended in CR: a LF starting the next is its pair
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0  # characters of data in the event being read

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by this chunk, in order (often none)."""
        if not chunk:
            return []
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        if not self._started and (self._tail or chunk):
            buffer = bytes(self._tail) + chunk
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._tail = bytearray(buffer)  # maybe a byte-order mark split across chunks
                return []
            self._started = True
            chunk = buffer.removeprefix(b"\xef\xbb\xbf")
            self._tail = bytearray()
        if b"\n" not in chunk and b"\r" not in chunk:
            # The middle of a long line: append without splitting everything again.
            self._tail += chunk
            if len(self._tail) > MAX_LINE_BYTES:
                raise EventTooLarge()
            return []
        lines = (bytes(self._tail) + chunk).splitlines(keepends=True)
        self._tail = bytearray()
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._tail = bytearray(lines.pop())
            if len(self._tail) > MAX_LINE_BYTES:
                raise EventTooLarge()
        if lines and lines[-1].endswith(b"\r"):
            self._skip_lf = True
        events = []
        for line in lines:
            event = self._line(line.rstrip(b"\r\n").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream. An unterminated last event is dispatched anyway: some servers
        omit the final blank line, and losing their last chunk (usage, finish) helps nobody."""
        events = []
        if self._tail:
            event = self._line(self._tail.decode("utf-8", errors="replace"))
            self._tail = bytearray()
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:
                raise EventTooLarge()
            self._data.append(value)
        elif field == "event":
            self._event = value or None
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data = self._event, self._data
        self._event, self._data, self._size = None, [], 0
        if not data:
            return None
        return SSEEvent(event=event, data="\n".join(data))
