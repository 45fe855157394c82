"""Kubernetes API errors, classified by what the caller should do about them."""

from __future__ import annotations


class KubernetesApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Conflicts, throttling and server errors pass; retry with backoff."""
        return self.status in (409, 429) or self.status >= 500

    @property
    def invalid(self) -> bool:
        return self.status == 422


class NotFoundError(KubernetesApiError):
    pass


class ConflictError(KubernetesApiError):
    pass
