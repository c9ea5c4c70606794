"""What one web worker knows about its own stop: whether it is stopping, and which
streams are open, so that those still open when the grace ends get an error event
(`server_shutting_down`) instead of a cut connection.

Process state by nature (the streams of this process), kept in one object.
"""

from __future__ import annotations

import weakref
from typing import Protocol

SHUTTING_DOWN = "server_shutting_down"


class Interruptible(Protocol):
    def interrupt(self, code: str) -> None: ...


class Drain:
    def __init__(self) -> None:
        self.reason = ""  # why this process is ending its requests, "" while serving
        self._streams: weakref.WeakSet[Interruptible] = weakref.WeakSet()

    def open(self, stream: Interruptible) -> None:
        self._streams.add(stream)

    def closed(self, stream: Interruptible) -> None:
        self._streams.discard(stream)

    def stopping(self) -> None:
        """The grace is over: what is cancelled from now on is cancelled by the stop."""
        self.reason = SHUTTING_DOWN

    def interrupt_streams(self, reason: str = SHUTTING_DOWN) -> int:
        """End every open stream with `reason`; returns how many there were."""
        streams = list(self._streams)
        for stream in streams:
            stream.interrupt(reason)
        return len(streams)

    def open_streams(self) -> int:
        return len(self._streams)


drain = Drain()
