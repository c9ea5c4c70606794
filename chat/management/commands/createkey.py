from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import ApiKey, Scope


def _budget(value: str) -> Decimal:
    try:
        budget = Decimal(value)
    except InvalidOperation as exc:
        raise CommandError(f"--budget must be a number of USD, got {value!r}") from exc
    if budget < 0:
        raise CommandError("--budget must not be negative")
    return budget


class Command(BaseCommand):
    help = "Create a gateway API key and print it once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--admin", action="store_true", help="add the admin scope (/api)")
        parser.add_argument("--budget", type=str, help="spending limit in USD")
        parser.add_argument("--rpm", type=int, help="requests per minute")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rpm"] is not None and options["rpm"] <= 0:
            raise CommandError("--rpm must be a positive integer")
        scopes = [Scope.CHAT, Scope.ADMIN] if options["admin"] else [Scope.CHAT]
        budget = _budget(options["budget"]) if options["budget"] is not None else None
        key, raw = ApiKey.issue(
            options["name"], scopes=scopes, budget_usd=budget, rpm_limit=options["rpm"]
        )
        self.stderr.write(
            f"Created key '{key.name}' with scopes {', '.join(scopes)}. "
            "It is shown once; store it now."
        )
        self.stdout.write(raw)
