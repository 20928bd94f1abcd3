"""Which video a DataLoader worker was reading when it died.

A worker killed by a signal (a decoder segfault) cannot report anything itself: the DataLoader
tells the main process only the worker's pid. A dataset that records, in shared memory, what each
process is reading (``dataset.reading() -> {pid: (index, video_id)}``, as
:class:`stgcn.data.ssv2.SomethingSomethingV2` does) lets :func:`name_dead_worker` say which video it
was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class WorkerDiedError(RuntimeError):
    """A DataLoader worker died while reading; the message names the video(s) it was reading."""


_DEAD_PIDS = re.compile(r"DataLoader worker \(pid\(?s?\)? ([\d, ]+)\)")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # zombie or dead
    except OSError:
        return False  # gone (or not Linux: then only the DataLoader's message names pids)


@contextmanager
def name_dead_worker(dataset: Any) -> Iterator[None]:
    """Around a loop over a DataLoader of ``dataset``: a worker that dies (e.g. a decoder
    segfault) is re-raised as :class:`WorkerDiedError` naming the video(s) it was reading.

    The death reaches the main process as DataLoader's ``RuntimeError`` naming the pid, or, when
    the worker dies while handing over a batch, as a broken connection (``OSError``,
    ``EOFError``); either way the dataset's record of what each pid was reading names the video.

    ``with name_dead_worker(ds): for batch in loader: ...``
    """
    try:
        yield
    except (RuntimeError, OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        match = _DEAD_PIDS.search(str(e)) if isinstance(e, RuntimeError) else None
        reading = dataset.reading()
        if match is not None:
            pids = {int(p) for p in re.findall(r"\d+", match.group(1))}
        elif isinstance(e, RuntimeError):
            raise  # not the DataLoader's report of a death
        else:
            pids = {pid for pid in reading if pid != os.getpid() and not _alive(pid)}
            if not pids:
                raise  # not a worker's death
        dead = {pid: reading[pid] for pid in sorted(pids) if pid in reading}
        what = (
            "; ".join(
                f"pid {pid} was reading index {i}, video {vid}" for pid, (i, vid) in dead.items()
            )
            if dead
            else f"no read was in progress in pid(s) {sorted(pids)}"
        )
        raise WorkerDiedError(f"DataLoader worker died: {e} ({what})") from e
