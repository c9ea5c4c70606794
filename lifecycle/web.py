"""One web worker: uvicorn on the listening socket `serve` passes in, stopped so that no
request or usage row is lost.

    python -m lifecycle.web --fd N   (started by lifecycle.supervisor)

On SIGTERM / SIGINT: stop accepting, let requests and streams finish for up to
SHUTDOWN_GRACE_SECONDS, end the streams still open with one error event
(`server_shutting_down`) and a `cancelled` usage row, cancel what is left, then write every
usage row (or spill it to DATA_DIR) before exiting: 0 when that worked. uvicorn's own
shutdown would cancel streams without an event and re-raise the signal, so the process
would die before anything ran after it (the usage writer's atexit flush never did).

When `serve` dies (parent.DEATH_SIGNAL, or the parent watch) the same stop runs with no
grace, bounded by ABORT_SECONDS, so the port is free within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from lifecycle import parent

logger = logging.getLogger("switchboard.lifecycle")

EXIT_CONFIG = 78  # a configuration error: serve stops instead of restarting the worker
# After the grace: how long interrupted streams get to send their error event, and
# cancelled requests to record their usage.
STREAM_END_SECONDS = 2.0
CANCEL_SECONDS = 1.0
WRITER_CLOSE_SECONDS = 5.0
# When serve is gone: everything above, squeezed; then the process exits regardless.
ABORT_SECONDS = 1.5


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, grace: float) -> None:
        super().__init__(config)
        self.grace = grace
        self.aborting = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without raising the signal again on the way out: this process
        exits with its own status once the usage rows are written."""
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        previous[parent.DEATH_SIGNAL] = signal.signal(parent.DEATH_SIGNAL, self.handle_abort)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:  # a second Ctrl-C: no more waiting
            self.grace = 0
        self.should_exit = True

    def handle_abort(self, sig: int | None = None, frame: FrameType | None = None) -> None:
        """serve is gone: stop now, and exit within ABORT_SECONDS whatever happens."""
        if self.aborting:
            return
        self.aborting = True
        self.grace = 0
        self.should_exit = True
        timer = threading.Timer(ABORT_SECONDS, os._exit, args=(1,))
        timer.daemon = True
        timer.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from lifecycle.draining import drain

        stopped_at = time.monotonic()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now
        await self._until_idle(lambda: stopped_at + self.grace)
        drain.stopping()
        if self.server_state.connections:
            streams = drain.interrupt_streams()
            logger.warning(
                "grace of %.0f s over: ending %d open stream(s) with server_shutting_down",
                self.grace,
                streams,
            )
            end = time.monotonic() + (0.3 if self.aborting else STREAM_END_SECONDS)
            await self._until_idle(lambda: end)
        for task in list(self.server_state.tasks):
            task.cancel()
        end = time.monotonic() + (0.2 if self.aborting else CANCEL_SECONDS)
        await self._until_idle(lambda: end, tasks=True)
        await self.lifespan.shutdown()

    async def _until_idle(self, deadline: Any, tasks: bool = False) -> None:
        """Wait until no connection (or request task) is left, or `deadline()` passes;
        the deadline is re-read so a second signal cuts the wait short."""
        state = self.server_state
        while (state.tasks if tasks else state.connections) and time.monotonic() < deadline():
            await asyncio.sleep(0.05)


def _grace() -> float:
    from django.conf import settings

    return float(settings.SHUTDOWN_GRACE_SECONDS)


def _check_once() -> None:
    """System checks (database ones included), run by the first web worker only: one
    warning per problem in the console, however many processes serve starts."""
    from django.core.management.base import BaseCommand, SystemCheckError

    try:
        BaseCommand(stderr=sys.stderr).check(databases=["default"], display_num_errors=False)
    except SystemCheckError as exc:
        sys.stderr.write(f"{exc}\n")
        sys.exit(EXIT_CONFIG)


def serve(fd: int) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if os.environ.pop("SWITCHBOARD_RUN_CHECKS", "") == "1":
        _check_once()
    import usage
    from config.asgi import application

    usage.keep_journal()
    threading.Thread(target=usage.replay_spilled, name="usage-replay", daemon=True).start()
    config = uvicorn.Config(
        application,
        loop="uvloop",
        http="httptools",
        lifespan="on",  # shutdown closes the upstream connections (config.asgi.lifespan)
        access_log=False,  # the request middleware logs each request once
        log_config=None,  # Django's LOGGING
    )
    server = DrainingServer(config, grace=_grace())
    parent.watch(server.handle_abort)
    listener = socket.socket(fileno=fd)
    server.run(sockets=[listener])
    if not usage.close(timeout=0.5 if server.aborting else WRITER_CLOSE_SECONDS):
        logger.error("usage records were lost at shutdown")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lifecycle.web")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    return serve(parser.parse_args(argv).fd)


if __name__ == "__main__":
    sys.exit(main())
