"""The shapes of the two JSON backups a restore accepts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProviderEntry(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    kind: str = ""
    base_url: str = Field(min_length=1, max_length=500)
    api_key_encrypted: str = ""
    models: list[str] = []
    is_active: bool = True


class NodeEntry(BaseModel):
    provider: str = Field(min_length=1)
    models: list[str] = []
    strategy: str = "round-robin"
    priority: int = 0
    weight: float = 1.0
    metadata: dict[str, Any] = {}


class RouteEntry(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    mode: str = "auto"
    is_active: bool = True
    config: dict[str, Any] = {}
    nodes: list[NodeEntry] = []


class ConfigBackup(BaseModel):
    """providers.config_backup.export_config(): keys as Fernet ciphertext."""

    format: Literal["switchboard-config"]
    version: Literal[1]
    providers: list[ProviderEntry]
    routes: list[RouteEntry] = []


class SerializedObject(BaseModel):
    """One entry of Django's JSON serializer output."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    pk: Any = None
    fields: dict[str, Any]


class DataBackup(BaseModel):
    """console.backup.export_data(): every Switchboard row, keys as ciphertext."""

    format: Literal["switchboard-data"]
    version: Literal[1]
    migrations: dict[str, list[str]]
    objects: list[SerializedObject]
