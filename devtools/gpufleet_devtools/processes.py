"""What every server process the tools start needs: wait until healthy, stop, read its log."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

LOG_TAIL_CHARS = 4000


LISTEN_PORTS_FLOOR = 20000
"""Servers get ports from here up to the ephemeral range, never from inside it."""


def _ephemeral_floor() -> int:
    try:
        low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        return int(low)
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server that binds it a moment later.

    Not one the OS hands out for port 0: those come from the ephemeral range, which
    every outgoing connection (a load generator's, a scraper's) also draws from, so
    one of them could take the port before the server binds it. A random port below
    that range only races with another server picking the same one.
    """
    high = _ephemeral_floor() - 1
    if high > LISTEN_PORTS_FLOOR:
        for _ in range(200):
            port = random.randint(LISTEN_PORTS_FLOOR, high)
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(
    process: subprocess.Popen[bytes] | None,
    url: str,
    *,
    name: str,
    timeout_s: float,
    log: Path | None = None,
    poll_s: float = 0.1,
) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``process`` exits first.

    Raises RuntimeError (exited, with the log's tail) or TimeoutError.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        time.sleep(poll_s)
    raise TimeoutError(f"{name} not ready within {timeout_s:g} s")


def stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout_s: float) -> None:
    """Send ``sig`` (the server's graceful shutdown), then SIGKILL if it hangs."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
