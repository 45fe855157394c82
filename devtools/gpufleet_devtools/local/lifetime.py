"""Children that do not outlive the fleet, even when it is killed (SIGKILL, a crash)."""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the kernel sends the child SIGTERM when its parent dies (Linux).

    A graceful stop still goes through the fleet (drain, then SIGTERM); this only
    covers the fleet dying without a chance to stop anything.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
