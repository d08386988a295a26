"""Workers end when their launcher dies.

``torchrun`` starts one worker process per rank and is their parent. Killed itself (SIGKILL, an OOM kill, a
lost ssh session), it cannot stop them: they would go on computing and writing into the output folder,
unsupervised, while a new run may already be using it. :func:`watch_parent` starts a daemon thread that checks
every ``interval`` seconds whether the parent is still the one the worker started with (an orphan is
re-parented to init or a subreaper, so ``os.getppid()`` changes) and then ends the worker at once with a
one-line message. Ending it abruptly is safe: every cache shard is written to a temporary file and renamed
(the next run removes stale temporaries), exactly the situation a SIGKILL of the worker leaves, which the
runner resumes from. Callbacks registered in :data:`ON_EXIT` run first (rank 0 releases the output lock).

This module imports neither torch nor the rest of vidxai, so a worker can start the watch before loading them.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

#: Called (in order, errors ignored) just before a worker whose launcher died exits.
ON_EXIT: list[Callable[[], object]] = []
#: Exit status of a worker whose launcher died.
EXIT_STATUS = 1


def launched_by_torchrun() -> bool:
    """Whether this process is a worker started by ``torchrun`` (torch.distributed.elastic sets these)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def parent_alive(parent: int) -> bool:
    """Whether ``parent`` is still this process's parent (False once it died and this process was re-parented)."""
    return os.getppid() == parent


def watch_parent(interval: float = 1.0, parent: int | None = None, what: str = "torchrun launcher",
                 rank: int | None = None) -> threading.Thread:
    """Start a daemon thread that ends this process soon after its parent dies.

    Args:
        interval: seconds between checks (the worker may write for at most about this long after the death).
        parent: the pid to watch (default: the current parent).
        what: how the message names the parent.
        rank: this worker's rank, for the message (default: ``$RANK``).

    Returns:
        The started thread.

    Example::

        if launched_by_torchrun():
            watch_parent()
    """
    parent = os.getppid() if parent is None else parent
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank

    def watch() -> None:
        while parent_alive(parent):
            time.sleep(interval)
        print(f"vidxai: the {what} (pid {parent}) has exited: rank {rank} stops (its finished shards are kept; "
              "run again to resume)", file=sys.stderr, flush=True)
        for fn in list(ON_EXIT):
            try:
                fn()
            except Exception:  # noqa: BLE001 - exiting anyway; a failed cleanup must not keep the worker alive
                pass
        # os._exit, not sys.exit: the main thread may be inside a long C call (a forward pass, a barrier whose
        # peers are gone) and would never see an exception raised from here.
        os._exit(EXIT_STATUS)

    thread = threading.Thread(target=watch, name="vidxai-parent-watch", daemon=True)
    thread.start()
    return thread


__all__ = ["ON_EXIT", "EXIT_STATUS", "launched_by_torchrun", "parent_alive", "watch_parent"]
