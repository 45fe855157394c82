"""What every server process the tools start needs: wait until healthy, stop, read its log."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks; a race with others is unlikely)."""
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
