"""Children that do not outlive the fleet, even when it is killed (SIGKILL, a crash).

A killed process runs no code, so something else must act for it; two things do:

- The kernel: each child is armed before ``exec`` with the parent-death signal (Linux
  ``prctl(PR_SET_PDEATHSIG)``), so even servers we cannot change (Prometheus,
  tritonserver) get SIGTERM the moment we die. It reaches only our own children.
- A watchdog process for what those children start: a server that dies mid-way can
  leave its own children behind (a Triton python-backend stub whose server died while
  loading waits forever, on a lock in shared memory, ignoring SIGTERM). Every server
  runs in a process group of its own (its own session: a terminal's Ctrl-C must reach
  only the fleet, which stops them in order); the watchdog learns each group through
  a pipe and stops what is left of them (SIGTERM, then SIGKILL) when the pipe closes,
  which the kernel does when we die. See :mod:`~gpufleet_devtools.local.watchdog`.

Two catches of the death signal, both handled here or by the callers:

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
import subprocess
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


class _Watchdog:
    """This process's watchdog, started with the first group it is told of."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def tell(self, line: str) -> None:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gpufleet_devtools.local.watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C is for us: it acts once we are gone
            )
        assert self._process.stdin is not None
        self._process.stdin.write(f"{line}\n".encode())
        self._process.stdin.flush()

    @property
    def started(self) -> bool:
        return self._process is not None


_WATCHDOG = _Watchdog()


def watch_group(pgid: int) -> None:
    """Have the watchdog stop process group ``pgid`` if this process dies first."""
    _WATCHDOG.tell(f"+{pgid}")


def forget_group(pgid: int) -> None:
    """The group's leader was reaped: its number may soon name someone else's group."""
    if _WATCHDOG.started:
        _WATCHDOG.tell(f"-{pgid}")
