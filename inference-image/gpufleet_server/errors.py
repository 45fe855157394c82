"""Request errors shared by the HTTP and gRPC front ends.

Each error carries a kind that both protocols map to their own status code, so a bad
request gets the same verdict whichever protocol it came through.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID_ARGUMENT: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


class InferenceError(Exception):
    """A request that cannot be served; the message is what the client sees."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def invalid(message: str) -> InferenceError:
    return InferenceError(ErrorKind.INVALID_ARGUMENT, message)


def not_found(message: str) -> InferenceError:
    return InferenceError(ErrorKind.NOT_FOUND, message)


def unavailable(message: str) -> InferenceError:
    return InferenceError(ErrorKind.UNAVAILABLE, message)


def internal(message: str) -> InferenceError:
    return InferenceError(ErrorKind.INTERNAL, message)
