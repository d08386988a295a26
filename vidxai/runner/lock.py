"""One run per output folder: a lock file holding the owner's pid and host.

Two runs writing one cache at once would both compute every missing shard (and the second's report could
merge shards the first is still writing), so :func:`vidxai.runner.run.run` takes ``<output>/.vidxai-run.lock``
first and a second run fails with a one-line :class:`OutputInUseError`. Under ``torchrun`` only rank 0 takes
it (the ranks of one job share the folder by design) and tells the other ranks whether it could.

The lock file is created complete (written to a temporary file, then hard-linked into place, which fails if
it exists), so a reader never sees a half-written owner. A lock whose owner is a dead process on this host
(or a recycled pid: the process start time differs) is stale and taken over; a lock of another host cannot be
checked and is reported, with the path to delete if that run is gone.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import VidxaiError

LOCK_NAME = ".vidxai-run.lock"
#: A takeover mutex older than this belongs to a process that died mid-takeover (a takeover takes microseconds).
TAKEOVER_STALE_SECONDS = 30.0


class OutputInUseError(VidxaiError):
    """Another live run holds the output folder's lock."""


def lock_path(folder: str | os.PathLike) -> Path:
    """Where the lock of the output ``folder`` lives."""
    return Path(folder) / LOCK_NAME


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, Linux), which tells a recycled pid from its first owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the process named in a lock may still be running (always True for another host's)."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = int(owner.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    try:  # a zombie has exited: it only waits for its parent to reap it
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    start = owner.get("start")
    return not (start and process_start(pid) not in (None, start))


class OutputLock:
    """The lock of one output folder; :meth:`acquire` it, :meth:`release` it when done."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = lock_path(folder)
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid()),
                      "time": time.strftime("%Y-%m-%d %H:%M:%S"), "token": uuid.uuid4().hex}
        self.held = False

    def read(self) -> dict[str, Any] | None:
        """The current owner, or None when there is no lock (or it cannot be read)."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def acquire(self, attempts: int = 5) -> OutputLock:
        """Take the lock, taking over a stale one; raises :class:`OutputInUseError` if a live run holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{LOCK_NAME}.{os.getpid()}.{self.owner['token'][:8]}.tmp")
        tmp.write_text(json.dumps(self.owner))
        try:
            for _ in range(attempts):
                try:
                    os.link(tmp, self.path)  # atomic, and fails if the lock exists
                    self.held = True
                    return self
                except FileExistsError:
                    pass
                current = self.read()
                if current is not None and owner_alive(current):
                    raise OutputInUseError(
                        f"{self.folder} is in use by pid {current.get('pid')} on host {current.get('host')} "
                        f"(since {current.get('time', '?')}); wait for that run to end, use another output, "
                        f"or delete {self.path} if that run is gone")
                if current is not None:
                    self._take_over(current)
                time.sleep(0.05)  # unreadable: its owner is replacing it right now
            raise OutputInUseError(f"{self.folder} is in use: could not take {self.path} after {attempts} tries")
        finally:
            tmp.unlink(missing_ok=True)

    def _take_over(self, stale: dict[str, Any]) -> None:
        """Remove ``stale``'s lock, unless another process replaced it meanwhile.

        Read-compare-remove must not interleave with another taker's (it could remove the lock that one has just
        taken), so it runs under a second lock file, created exclusively.
        """
        mutex = self.path.with_name(LOCK_NAME + ".takeover")
        try:
            fd = os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - mutex.stat().st_mtime > TAKEOVER_STALE_SECONDS:
                    mutex.unlink(missing_ok=True)
            except OSError:
                pass
            return  # someone else is taking over: the caller retries
        os.close(fd)
        try:
            if self.read() == stale:
                self.path.unlink(missing_ok=True)
        finally:
            mutex.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock if it is still this process's."""
        if self.held and (self.read() or {}).get("token") == self.owner["token"]:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
