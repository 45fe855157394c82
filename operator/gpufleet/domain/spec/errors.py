"""The error a spec the operator cannot act on raises."""

from __future__ import annotations


class SpecError(ValueError):
    """A spec the operator cannot act on; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}" if field else message)
        self.field = field
        self.message = message
