from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import ApiKey, Scope

# ApiKey.budget_usd holds 12 digits, 4 of them decimals.
BUDGET_LIMIT = Decimal(10**8)
NAME_MAX = ApiKey._meta.get_field("name").max_length or 100
RPM_MAX = 2**31 - 1  # PositiveIntegerField on PostgreSQL


def _budget(value: str) -> Decimal:
    try:
        budget = Decimal(value)
    except InvalidOperation as exc:
        raise CommandError(f"--budget must be a number of USD, got {value!r}") from exc
    if not budget.is_finite() or budget < 0:
        raise CommandError(f"--budget must be a non-negative number of USD, got {value!r}")
    if budget >= BUDGET_LIMIT:
        raise CommandError(f"--budget must be below {BUDGET_LIMIT} USD")
    return budget


class Command(BaseCommand):
    help = "Create a gateway API key and print it once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--admin", action="store_true", help="add the admin scope (/api)")
        parser.add_argument("--budget", type=str, help="spending limit in USD")
        parser.add_argument("--rpm", type=int, help="requests per minute")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > NAME_MAX:
            raise CommandError(f"name must be 1 to {NAME_MAX} characters")
        if options["rpm"] is not None and not 0 < options["rpm"] <= RPM_MAX:
            raise CommandError(f"--rpm must be a positive integer up to {RPM_MAX}")
        scopes: list[str] = [Scope.CHAT, Scope.ADMIN] if options["admin"] else [Scope.CHAT]
        budget = _budget(options["budget"]) if options["budget"] is not None else None
        key, raw = ApiKey.issue(name, scopes=scopes, budget_usd=budget, rpm_limit=options["rpm"])
        self.stderr.write(
            f"Created key '{key.name}' with scopes {', '.join(scopes)}. "
            "It is shown once; store it now."
        )
        self.stdout.write(raw)
