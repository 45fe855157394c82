"""Checks of command-line inputs shared by the offline commands (``sim``, ``profile``):
each refuses a bad value as a usage error naming its flag, before any work starts."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import typer


def check_writable(path: Path | None, flag: str) -> None:
    """A usage error naming the flag when ``path`` cannot be written: said before the runs,
    not after them with their results lost."""
    if path is None:
        return
    try:
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory", param_hint=flag)
        parent = path.parent
        if not parent.is_dir():
            raise typer.BadParameter(f"{parent} is not a directory", param_hint=flag)
        writable = os.access(parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    except OSError as exc:
        # A name the file system refuses (too long, a loop of links): said as such.
        raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint=flag) from exc
    if not writable:
        raise typer.BadParameter(f"{path} is not writable", param_hint=flag)


def http_url(url: str, flag: str) -> str:
    """``url`` as ``http(s)://host[:port][/path]`` (``host:port`` means http), without a
    trailing slash; a usage error naming the flag when it is no HTTP endpoint."""
    full = url if "://" in url else f"http://{url}"
    parts = urllib.parse.urlsplit(full)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise typer.BadParameter(f"{url!r}: {exc}", param_hint=flag) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"{url!r}: expected host:port or http(s)://host:port", param_hint=flag
        )
    return full.rstrip("/")
