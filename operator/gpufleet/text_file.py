"""Reading a user's text file (a manifest, a profile) as the tools that wrote it meant it."""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: Path) -> str:
    """The file's text: UTF-8, a byte-order mark dropped (editors on Windows write one); a
    ``ValueError`` naming the file and the first byte that is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from err
