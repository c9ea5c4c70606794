from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from providers import crypto
from providers.config_backup import write_config_backup
from providers.models import Provider


class Command(BaseCommand):
    help = "Re-encrypt every stored provider key with the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        # Work on the raw ciphertext so nothing is decrypted into a model instance.
        rows = list(Provider.objects.exclude(api_key="").values_list("pk", "name"))
        table = Provider._meta.db_table
        rotated = 0
        with transaction.atomic():
            for pk, name in rows:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT api_key FROM {table} WHERE id = %s", [pk])
                    (token,) = cursor.fetchone()
                try:
                    new_token = crypto.rotate(token)
                except InvalidToken as exc:
                    raise CommandError(
                        f"The key of provider '{name}' opens with none of FIELD_ENCRYPTION_KEYS; "
                        "add the old key to the list (after the new one) and run again. "
                        "Nothing was changed."
                    ) from exc
                Provider.objects.filter(pk=pk).update(api_key=_Raw(new_token))
                rotated += 1
        write_config_backup()
        self.stdout.write(f"Re-encrypted {rotated} provider key(s) with the current first key.")


class _Raw(crypto.UndecryptableSecret):
    """Already ciphertext: EncryptedTextField writes it through unchanged."""
