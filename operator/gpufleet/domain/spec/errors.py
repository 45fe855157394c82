"""The error a spec the operator cannot act on raises."""

from __future__ import annotations


def _named(field: str, message: str) -> str:
    """The field's path in the object: under ``spec`` but for ``metadata``'s."""
    if not field:
        return message
    return f"{field}: {message}" if field.startswith("metadata.") else f"spec.{field}: {message}"


class SpecError(ValueError):
    """A spec the operator cannot act on; ``field`` names the offending field (the first,
    when several are wrong: ``others`` holds the rest, so that one report shows them all)."""

    def __init__(self, field: str, message: str, others: tuple[tuple[str, str], ...] = ()) -> None:
        self.problems = [_named(f, m) for f, m in ((field, message), *others)]
        """Each wrong field with what is wrong with it, the first first."""
        super().__init__("; ".join(self.problems))
        self.field = field
        self.message = message
