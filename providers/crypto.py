"""Provider keys encrypted at rest with Fernet.

django-cryptography 1.1 does not import on Django 5 and its fork has no key rotation,
so this is a small field over cryptography's MultiFernet: the first key of
FIELD_ENCRYPTION_KEYS encrypts, every key decrypts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

from redaction import register_secret


class UndecryptableSecret(str):
    """Ciphertext that none of the configured keys opens. It is kept as it is (saving the
    row writes the same ciphertext back) so a wrong key set never destroys stored keys."""


@cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Raises InvalidToken when no configured key opens the token."""
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the current first key."""
    return fernet().rotate(token.encode()).decode()


def can_decrypt(token: str) -> bool:
    try:
        decrypt(token)
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code sees the plaintext (or '' when unset)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        if not value:
            return ""
        try:
            plaintext = decrypt(value)
        except InvalidToken:
            return UndecryptableSecret(value)
        register_secret(plaintext)
        return plaintext

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        if not value:
            return ""
        if isinstance(value, UndecryptableSecret):
            return str(value)
        register_secret(value)
        return encrypt(value)
