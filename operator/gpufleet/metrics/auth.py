"""How the reader authenticates to Prometheus and checks its certificate.

Managed Prometheus services (Amazon Managed Prometheus behind a SigV4 proxy, Google
Managed Prometheus's frontend, Grafana Mimir, an OAuth proxy in front of the
Prometheus Operator) want a bearer token or basic auth, often over TLS with a private
CA. Credentials are read from files (Kubernetes mounts Secrets and projected
service-account tokens as files), and read again when the file changes: a rotated
token is used on the next query, without a restart.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import requests
from requests.auth import AuthBase

from gpufleet.settings import OperatorSettings


class _WatchedFile:
    """A small secret file's stripped text, read again when its mtime or size changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._text = ""

    def text(self) -> str:
        stat = os.stat(self._path)  # a missing file fails the query, with its path
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._text = self._path.read_text().strip()
            self._stamp = stamp
        return self._text


class BearerTokenFileAuth(AuthBase):
    """``Authorization: Bearer <token>``, the token read from a file."""

    def __init__(self, path: Path) -> None:
        self._token = _WatchedFile(path)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.text()}"
        return request


class BasicAuthPasswordFile(AuthBase):
    """HTTP basic auth, the password read from a file."""

    def __init__(self, username: str, password_file: Path) -> None:
        self._username = username
        self._password = _WatchedFile(password_file)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pair = f"{self._username}:{self._password.text()}".encode()
        request.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return request


def prometheus_auth(settings: OperatorSettings) -> AuthBase | None:
    if settings.prometheus_bearer_token_file is not None:
        return BearerTokenFileAuth(settings.prometheus_bearer_token_file)
    if settings.prometheus_username and settings.prometheus_password_file is not None:
        return BasicAuthPasswordFile(
            settings.prometheus_username, settings.prometheus_password_file
        )
    return None


def prometheus_session(settings: OperatorSettings) -> requests.Session:
    """A session that checks Prometheus's certificate against the configured CAs."""
    session = requests.Session()
    session.headers.update(settings.prometheus_headers)
    if settings.prometheus_insecure_skip_verify:
        session.verify = False
    elif settings.prometheus_ca_file is not None:
        session.verify = str(settings.prometheus_ca_file)
    # The client passes this verify with every request, so an environment CA bundle
    # (REQUESTS_CA_BUNDLE) applies only where no CA is set; proxies come from the
    # environment (HTTPS_PROXY, NO_PROXY), as for any HTTP client in the pod.
    return session
