from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create the first admin user when there is none (password from ADMIN_PASSWORD)."
    # `make run` runs it before serve, whose first web worker runs the checks once.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("id").first()
        if admin is not None:
            if os.environ.get("ADMIN_PASSWORD"):
                # Said out loud: a changed ADMIN_PASSWORD that silently did nothing would
                # leave the operator locked out with the password they just chose.
                self.stdout.write(
                    f"ADMIN_PASSWORD is ignored: the admin user '{admin.get_username()}' "
                    "already exists and keeps its password. To reset it: "
                    f"python manage.py changepassword {admin.get_username()}"
                )
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
