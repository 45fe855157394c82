"""Children that do not outlive the fleet, even when it is killed (SIGKILL, a crash).

Why the kernel's parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``) and not a
process group or a watchdog: a killed process runs no code, so only the kernel can
act for it. A shared process group needs someone alive to signal it, and every
server runs in its own session anyway (a terminal's Ctrl-C must reach only the
fleet, which stops them in order). A watchdog process would itself be one more
child to outlive us. The death signal is armed in each child before ``exec``, so it
covers servers we cannot change (Prometheus, tritonserver).

Two catches, both handled here or by the callers:

- The "parent" is the *thread* that forked the child: the signal comes when that
  thread ends. Spawn from the event loop's thread (it lives as long as the fleet),
  never from ``asyncio.to_thread``'s workers.
- If we die between ``fork`` and ``prctl``, nobody signals the child: it checks,
  once armed, that its parent is still the process that spawned it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
# Loaded here, in the parent: the child runs only the prctl call between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn``: the kernel sends the child SIGTERM when this thread ends.

    SIGTERM, so a server still exits its own way. A graceful stop still goes through
    the fleet (drain, then SIGTERM); this only covers the fleet dying without a
    chance to stop anything. Elsewhere than Linux it does nothing.
    """
    parent = os.getpid()

    def arm() -> None:
        if _LIBC is None:
            return
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            # SIGKILL: until exec the child still has the parent's signal handlers.
            os.kill(os.getpid(), signal.SIGKILL)

    return arm
