"""Usage records the database would not take, kept in files under DATA_DIR until it does.

The writer spills a batch here when the database stays down through its retries (and at
shutdown, when there is no time left to retry); the next start of a web worker replays
the files. A file is written beside its final name and renamed into place, so a replayer
never reads half of one, and is claimed by renaming it again, so two workers starting at
once never write the same records twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings

from usage.recording import Draft

logger = logging.getLogger("switchboard.usage")

SUFFIX = ".jsonl"
CLAIMED = ".replaying-"
_sequence = itertools.count()


def spill_dir() -> Path:
    path = Path(settings.DATA_DIR) / "usage-spill"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def save(drafts: list[Draft]) -> Path:
    """Write the drafts to a new file (mode 0600); returns it. Raises OSError."""
    folder = spill_dir()
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_sequence)}{SUFFIX}"
    staged = folder / f".{name}.tmp"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        for draft in drafts:
            handle.write(orjson.dumps(draft, default=_encode) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    staged.replace(folder / name)
    return folder / name


def claim() -> Iterator[Path]:
    """Spilled files this process may replay, each renamed to mark it as taken: new ones,
    and those a replayer left behind when it died."""
    for path in sorted(spill_dir().iterdir()):
        if path.name.endswith(SUFFIX) or _abandoned(path):
            base = path.name.split(CLAIMED)[0]
            target = path.with_name(f"{base}{CLAIMED}{os.getpid()}")
            try:
                path.rename(target)
            except FileNotFoundError:  # another process claimed it first
                continue
            yield target


def _abandoned(path: Path) -> bool:
    owner = path.name.rpartition(CLAIMED)[2]
    if CLAIMED not in path.name or not owner.isdigit() or int(owner) == os.getpid():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def load(path: Path) -> list[Draft]:
    drafts = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            drafts.append(_draft(orjson.loads(line)))
    return drafts


def release(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot spill a {type(value).__name__}")


def _draft(data: dict[str, Any]) -> Draft:
    """A Draft from its JSON; fields a newer or older Draft lacks are left out, and
    datetimes and decimals (JSON strings) are read back by the field's declared type."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(Draft)}
    values = {}
    for name, value in data.items():
        if name not in fields:
            continue
        if isinstance(value, str) and "datetime" in fields[name]:
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and "Decimal" in fields[name]:
            value = Decimal(value)
        values[name] = value
    return Draft(**values)
