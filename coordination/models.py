"""Rows the processes of an instance (and every instance on one database) coordinate by."""

from __future__ import annotations

import secrets
import uuid

from django.db import models


def new_version() -> int:
    # Random rather than incremented: a restored database carries an old value that a
    # process may still hold, and a counter could land on it again.
    return secrets.randbits(62)


def new_namespace() -> str:
    return uuid.uuid4().hex


class State(models.Model):
    """One row (pk=1), read by every process at most once a second."""

    version = models.BigIntegerField(default=new_version)
    namespace = models.CharField(max_length=32, default=new_namespace)
    maintenance_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "shared state"
        verbose_name_plural = "shared state"

    def __str__(self) -> str:
        return f"version {self.version}, namespace {self.namespace}"


class Lease(models.Model):
    """A claim on periodic work: whoever moves `due_at` forward with a conditional UPDATE
    runs that round; every other process skips it."""

    name = models.CharField(max_length=100, primary_key=True)
    due_at = models.DateTimeField()
    holder = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.name} due {self.due_at:%Y-%m-%d %H:%M:%S}"
