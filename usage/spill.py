"""Usage records kept in files under DATA_DIR until the database has them.

- Spill files: the writer spills a batch here when the database stays down through its
  retries (and at shutdown, when there is no time left to retry). A file is written
  beside its final name and renamed into place, so a replayer never reads half of one.
- The journal: a web worker appends every record it is given before queueing it, and
  forgets it once it is written; a worker killed outright (SIGKILL, out of memory)
  leaves its journal behind. No fsync: this survives the process dying, not the machine.

The next start of a web worker replays both, each file claimed by renaming it, so two
workers starting at once never write the same records twice. A record whose batch was
committed just before the kill is in the database and the journal; replaying a journal
skips request ids the database already has.
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
JOURNAL = ".journal"
CLAIMED = ".replaying-"
# A journal file is replaced by a fresh one after this many records (when all of its
# records are written it is emptied instead), so it never grows without bound.
SEGMENT_RECORDS = 5000
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
    """Files this process may replay, each renamed to mark it as taken: spilled ones, the
    journals of processes that are gone, and those a replayer left behind when it died."""
    for path in sorted(spill_dir().iterdir()):
        name = path.name
        if name.endswith(SUFFIX) or _orphaned_journal(name) or _abandoned(path):
            base = path.name.split(CLAIMED)[0]
            target = path.with_name(f"{base}{CLAIMED}{os.getpid()}")
            try:
                path.rename(target)
            except FileNotFoundError:  # another process claimed it first
                continue
            yield target


def is_journal(path: Path) -> bool:
    return path.name.split(CLAIMED)[0].endswith(JOURNAL)


def _process_tag(pid: int) -> str | None:
    """pid and start time: a pid alone may be reused by a new process after a restart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid}-{stat.rsplit(')', 1)[1].split()[19]}"


def _orphaned_journal(name: str) -> bool:
    if not name.endswith(JOURNAL) or not name.startswith("journal-"):
        return False
    pid, _, rest = name.removeprefix("journal-").partition("-")
    started = rest.split("-")[0]
    return not pid.isdigit() or _process_tag(int(pid)) != f"{pid}-{started}"


class Journal:
    """Records given to the writer and not yet settled (written or spilled), in files of
    this process. `add` before a record is queued, `settled` once its batch is done; the
    caller serializes the calls (the writer's lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tag = _process_tag(os.getpid()) or f"{os.getpid()}-0"
        self._unsettled: dict[int, int] = {}
        self._files: dict[int, tuple[Path, int]] = {}
        self._current = -1
        self._in_current = 0

    def add(self, draft: Draft) -> int:
        """Append `draft`; returns the segment to pass to `settled`. Raises OSError."""
        if self._current < 0 or self._in_current >= SEGMENT_RECORDS:
            self._rotate()
        _, fd = self._files[self._current]
        os.write(fd, orjson.dumps(draft, default=_encode) + b"\n")
        self._unsettled[self._current] += 1
        self._in_current += 1
        return self._current

    def settled(self, segment: int, count: int) -> None:
        self._unsettled[segment] -= count
        if self._unsettled[segment] > 0:
            return
        path, fd = self._files[segment]
        if segment == self._current:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # every record in it is written: nothing to replay
            self._in_current = 0
            return
        with contextlib.suppress(OSError):
            os.close(fd)
        release(path)
        del self._files[segment], self._unsettled[segment]

    def close(self) -> None:
        """At a clean stop: remove the files whose records are all written."""
        for segment in list(self._files):
            if self._unsettled[segment] == 0:
                path, fd = self._files.pop(segment)
                with contextlib.suppress(OSError):
                    os.close(fd)
                release(path)

    def _rotate(self) -> None:
        self._current += 1
        path = self.folder / f"journal-{self.tag}-{self._current}{JOURNAL}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._files[self._current] = (path, fd)
        self._unsettled[self._current] = 0
        self._in_current = 0
        previous = self._current - 1
        if previous in self._unsettled and self._unsettled[previous] == 0:
            self.settled(previous, 0)


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
