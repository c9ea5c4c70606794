"""The django-q2 cluster as a child of `serve`.

    python -m lifecycle.taskworker   (started by lifecycle.supervisor)

qcluster forks its own sentinel, pusher, monitor and workers, which no parent-death signal
reaches; they share this process's group (serve starts each child as a group leader), so
when serve dies the whole group is killed at once. Queued tasks survive in the broker and
run again after the cluster's retry time.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from lifecycle import parent


def kill_group(signum: int | None = None, frame: FrameType | None = None) -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def main() -> int:
    signal.signal(parent.DEATH_SIGNAL, kill_group)
    parent.watch(kill_group)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("qcluster")  # returns once a SIGTERM / SIGINT has stopped the cluster
    return 0


if __name__ == "__main__":
    sys.exit(main())
