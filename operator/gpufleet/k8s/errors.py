"""Kubernetes API errors, classified by what the caller should do about them."""

from __future__ import annotations

NAMESPACE_TERMINATING = "NamespaceTerminating"


class KubernetesApiError(Exception):
    def __init__(
        self, status: int, reason: str, message: str, causes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes
        """The reasons of the Status's ``details.causes``."""

    @property
    def invalid(self) -> bool:
        return self.status == 422

    @property
    def rejected(self) -> bool:
        """Refused as invalid: by the schema (422) or an admission webhook (whose denial
        is a 400 unless it names another code), the same each time it is retried."""
        return self.status in (400, 422)

    @property
    def forbidden(self) -> bool:
        """Refused by RBAC or an admission plugin (the message names verb and resource)."""
        return self.status == 403 and not self.namespace_terminating

    @property
    def namespace_terminating(self) -> bool:
        """A create in a namespace being deleted: the namespace controller deletes the
        owner next, so this is no problem to report."""
        return self.status == 403 and NAMESPACE_TERMINATING in self.causes


class NotFoundError(KubernetesApiError):
    pass


class ConflictError(KubernetesApiError):
    pass
