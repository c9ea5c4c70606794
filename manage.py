#!/usr/bin/env python
"""Django's command-line utility for Switchboard."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # The supervisor imports nothing of Django: it only starts and watches the
        # processes that do (lifecycle/supervisor.py).
        from lifecycle.supervisor import main as serve

        sys.exit(serve(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
