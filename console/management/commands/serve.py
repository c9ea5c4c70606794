"""`manage.py serve` is lifecycle.supervisor, run by manage.py before Django is set up so
the supervising process stays small; this command makes it listed in `manage.py help`
and callable as `call_command("serve", "--port", "8001")`."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from lifecycle.supervisor import main


class Command(BaseCommand):
    help = "Serve Switchboard: web workers and the task worker, supervised (see --help)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs="*", help="serve's own options, e.g. --port 8001")

    def run_from_argv(self, argv: list[str]) -> None:
        sys.exit(main(argv[2:]))

    def handle(self, *args: Any, **options: Any) -> None:
        sys.exit(main(list(args)))
