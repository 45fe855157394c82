"""``python -m gpufleet_devtools.local.watchdog``: stops the fleet's process groups once
the process that started them is gone, however it went.

It reads lines from stdin, a pipe whose other end only that process holds: ``+PGID``
when it starts a process group, ``-PGID`` when it has reaped the group's leader (the
number may soon name someone else's group). End of input means the process is gone
(the kernel closes its end of the pipe, SIGKILL included): every group still listed
gets SIGTERM, and SIGKILL whatever is left after ``GRACE_S``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable

from gpufleet_devtools.waiting import wait_for

GRACE_S = 5.0
"""Time a group gets to exit after SIGTERM. Some members never do: a Triton python-backend
stub whose server died mid-load waits forever on a lock in shared memory."""


def read_groups(lines: Iterable[str]) -> set[int]:
    """The groups listed when ``lines`` end."""
    groups: set[int] = set()
    for line in lines:
        sign, number = line[:1], line[1:].strip()
        if number.isdigit() and sign == "+":
            groups.add(int(number))
        elif number.isdigit() and sign == "-":
            groups.discard(int(number))
    return groups


def _signal(group: int, signum: int) -> bool:
    """Send ``signum`` to the group; False once it has no member left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(groups: set[int], grace_s: float = GRACE_S) -> None:
    left = {group for group in groups if _signal(group, signal.SIGTERM)}
    with contextlib.suppress(AssertionError):  # wait_for's timeout: SIGKILL what is left
        wait_for(lambda: not [g for g in left if _signal(g, 0)], timeout=grace_s)
    for group in left:
        _signal(group, signal.SIGKILL)


def main() -> int:
    stop_groups(read_groups(sys.stdin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
