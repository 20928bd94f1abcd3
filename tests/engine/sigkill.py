"""``sigkill_when``: kill a writer subprocess with SIGKILL at a chosen moment (crash-safety tests)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def sigkill_when(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    timeout_s: float,
    exited: str,
    never: str,
    poll_s: float = 0.01,
    settle_s: float = 0.0,
) -> None:
    """Poll ``ready()`` every ``poll_s`` until it holds, wait ``settle_s``, then SIGKILL ``proc``.

    Fails with ``exited`` if the process ends first, with ``never`` if ``ready()`` does not hold
    within ``timeout_s``, and if the process did not die of the signal; never leaves it running.
    """
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, exited
            assert time.monotonic() < deadline, never
            if ready():
                break
            time.sleep(poll_s)
        time.sleep(settle_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
