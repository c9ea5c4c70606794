"""A child process never outlives the `serve` that started it.

Two mechanisms, because either alone has a gap: the kernel's PR_SET_PDEATHSIG sends the
child a signal the moment its parent dies (SIGKILL included), but is lost if the parent
died before the child set it; a thread that polls getppid() catches that case and any
kernel without prctl. Standard library only: the supervisor imports this too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
# What a child receives when serve dies: each child handles it as "stop now" (a web
# worker flushes its usage rows within a second); a child that does not handle it is
# terminated by its default action.
DEATH_SIGNAL = signal.SIGUSR1
WATCH_SECONDS = 0.2
SUPERVISOR_PID = "SWITCHBOARD_SUPERVISOR_PID"


def signal_on_parent_death(signum: int = DEATH_SIGNAL) -> None:
    """Ask the kernel for `signum` when our parent dies (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def supervisor_pid() -> int | None:
    value = os.environ.get(SUPERVISOR_PID, "")
    return int(value) if value.isdigit() else None


def watch(on_death: Callable[[], None]) -> None:
    """Call `on_death` (from a daemon thread) once the supervisor is gone; right away when
    it already was. Does nothing outside `serve` (no SWITCHBOARD_SUPERVISOR_PID)."""
    expected = supervisor_pid()
    if expected is None:
        return
    signal_on_parent_death()

    def poll() -> None:
        while os.getppid() == expected:
            time.sleep(WATCH_SECONDS)
        on_death()

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()
