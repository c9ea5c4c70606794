from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create the first admin user when there is none (password from ADMIN_PASSWORD)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        if User.objects.filter(username=options["username"]).exists():
            # Promoting an existing account silently would hand it admin rights.
            raise CommandError(
                f"A non-admin user '{options['username']}' exists; set ADMIN_USERNAME to "
                "another name or use `manage.py createsuperuser`."
            )
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(options["username"], "", password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(f"Created admin user '{options['username']}' (ADMIN_PASSWORD).")
        else:
            self.stdout.write(
                f"Created admin user '{options['username']}' with password: {password}\n"
                "It is printed this once; change it in the admin."
            )
