"""Payloads of the console API: strict on the way in, plain on the way out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from console.models import Message, Profile, Session

SessionTypeName = Literal["chat", "code", "documents", "playground"]
IMAGE_PREFIX = "data:image/"
MAX_IMAGES = 8


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


# --- profiles ------------------------------------------------------------------------


class ProfileIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    system_prompt: str = ""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, ge=1, le=1_000_000)
    model: str = Field("", max_length=200, validation_alias=AliasChoices("model", "default_model"))
    shared: bool | None = None


class ProfilePatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    system_prompt: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    model: str | None = Field(
        None, max_length=200, validation_alias=AliasChoices("model", "default_model")
    )


class ProfileOut(Schema):
    id: int
    name: str
    system_prompt: str
    temperature: float
    max_tokens: int
    model: str
    default_model: str
    shared: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_shared(obj: Profile) -> bool:
        return obj.owner_id is None

    @staticmethod
    def resolve_default_model(obj: Profile) -> str:
        return obj.model


# --- sessions ------------------------------------------------------------------------


class Overrides(Strict):
    system_prompt: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    models: list[str] | None = Field(None, max_length=3)


class SessionIn(Strict):
    title: str = Field("New chat", min_length=1, max_length=200)
    session_type: SessionTypeName = "chat"
    profile_id: int | None = Field(None, validation_alias=AliasChoices("profile_id", "profile"))
    model: str = Field("", max_length=200)
    overrides: Overrides | None = None


class SessionPatch(Strict):
    title: str | None = Field(None, min_length=1, max_length=200)
    session_type: SessionTypeName | None = None
    profile_id: int | None = Field(None, validation_alias=AliasChoices("profile_id", "profile"))
    model: str | None = Field(None, max_length=200)
    overrides: Overrides | None = None


class SessionOut(Schema):
    id: str
    title: str
    session_type: str
    profile_id: int | None
    profile: int | None = None
    model: str
    overrides: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    current_leaf_id: int | None = None
    message_count: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0

    @staticmethod
    def resolve_id(obj: Session) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_profile(obj: Session) -> int | None:
        return obj.profile_id


class SessionList(Schema):
    items: list[SessionOut]
    count: int


# --- messages ------------------------------------------------------------------------


def check_images(images: list[str]) -> list[str]:
    if len(images) > MAX_IMAGES:
        raise ValueError(f"at most {MAX_IMAGES} images per message")
    for image in images:
        if not image.startswith(IMAGE_PREFIX) or ";base64," not in image:
            raise ValueError("each image must be a data:image/...;base64, URL")
    return images


class MessageIn(Strict):
    role: Literal["system", "user", "assistant", "tool"] = "user"
    content: str = Field("", max_length=200_000)
    images: list[str] = Field(default_factory=list)
    model: str = Field("", max_length=200)

    _images = field_validator("images")(check_images)


class MessagePatch(Strict):
    content: str = Field(max_length=200_000)
    # True: the client stopped this answer and `content` is what it showed, a prefix of
    # the stored text (the server had produced more than was painted).
    stopped: bool = False


class MessageOut(Schema):
    id: int
    session_id: str
    parent_id: int | None
    role: str
    content: str
    images: list[str]
    model: str
    provider: str
    status: str
    stopped: bool
    error: str
    error_code: str
    citations: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int
    tokens: int
    cost_usd: float
    cost: float
    ttft_ms: int | None
    latency_ms: int | None
    created_at: datetime
    # Ids of this message's versions (same parent), oldest first; itself included.
    siblings: list[int] = Field(default_factory=list)

    @staticmethod
    def resolve_siblings(obj: Message) -> list[int]:
        return getattr(obj, "siblings", None) or [obj.id]

    @staticmethod
    def resolve_session_id(obj: Message) -> str:
        return str(obj.session_id)

    @staticmethod
    def resolve_stopped(obj: Message) -> bool:
        return obj.status == "stopped"

    @staticmethod
    def resolve_cost_usd(obj: Message) -> float:
        return float(obj.cost_usd)

    @staticmethod
    def resolve_cost(obj: Message) -> float:
        return float(obj.cost_usd)


class MessageList(Schema):
    items: list[MessageOut]
    count: int
    # The first item's index on the branch: items above it exist when start > 0.
    start: int = 0


class SwitchIn(Strict):
    message_id: int = Field(ge=1, le=2**63 - 1)


class FoundOut(Schema):
    message_id: int
    snippet: str


class FoundList(Schema):
    items: list[FoundOut]
    count: int


# --- chat stream ---------------------------------------------------------------------


class ChatStreamIn(Strict):
    session_id: str
    content: str = Field("", max_length=200_000)
    model: str | None = Field(None, max_length=200)
    profile_id: int | None = None
    images: list[str] = Field(default_factory=list)
    # Answer the branch's last user message again (a sibling answer); with content, an
    # edit of it. `answer_of` / `edit_of` name any user message instead.
    regenerate: bool = False
    # Answer this user message again (retry, regenerate, a playground's other models):
    # the new answer is a sibling of its earlier ones. `reply_to` is the older name.
    answer_of: int | None = Field(None, validation_alias=AliasChoices("answer_of", "reply_to"))
    # A new version of this user message (same parent) with `content`, then its answer.
    edit_of: int | None = None

    _images = field_validator("images")(check_images)
