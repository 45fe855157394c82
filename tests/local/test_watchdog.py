"""The fleet's watchdog: once the pipe from the fleet closes (the fleet died, however), the
process groups it was told of go, even members that ignore SIGTERM; a group it was told
to forget (its leader reaped: the number may come back as someone else's) stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

# A server's children that ignore SIGTERM, as a Triton python-backend stub stuck on a lock.
STUBBORN = (
    "import os, signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); os.fork(); signal.pause()"
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads process groups in /proc"
)


def _members(group: int) -> list[int]:
    """The running (not zombie) processes of process group ``group``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def stubborn_group() -> Iterator[int]:
    """A process group of two processes that ignore SIGTERM; killed at the end regardless."""
    leader = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    wait_for(lambda: len(_members(leader.pid)) == 2, what="the leader and its child")
    try:
        yield leader.pid
    finally:
        if _members(leader.pid):
            os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(timeout=30)


@pytest.mark.parametrize(
    ("told", "stopped"),
    [
        (["+{group}"], True),
        (["+{group}", "-{group}"], False),  # forgotten: left alone
    ],
)
def test_when_the_fleet_goes_its_groups_go(
    stubborn_group: int, told: list[str], stopped: bool
) -> None:
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "gpufleet_devtools.local.watchdog"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    lines = "".join(f"{line.format(group=stubborn_group)}\n" for line in told)
    watchdog.communicate(lines.encode(), timeout=60)  # closes the pipe, as the fleet's death does
    assert watchdog.returncode == 0
    if stopped:  # SIGKILL sent, on its way
        wait_for(lambda: _members(stubborn_group) == [], timeout=10, what="the group gone")
    else:
        assert len(_members(stubborn_group)) == 2
