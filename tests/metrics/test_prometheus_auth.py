"""The reader against a Prometheus that wants credentials over TLS, as managed ones do.

Debian's ``prometheus`` runs with ``--web.config.file``: HTTPS with a certificate from
a private CA, and basic auth. A bearer-token front (aiohttp over the same TLS, as an
OAuth proxy or a managed Prometheus's frontend) forwards to it and accepts one token
at a time, so rotating the token file is seen on the next query. Slow (~10 s).
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from urllib3.exceptions import InsecureRequestWarning

from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.services.sampling import TickSampler
from gpufleet.settings import OperatorSettings

pytestmark = pytest.mark.slow

USER = "gpufleet"
PASSWORD = "s3cret-horse"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)


@pytest.fixture(scope="module")
def prometheus(tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HTTPS + basic-auth Prometheus; yields its URL."""
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    root = tmp_path_factory.mktemp("prometheus")
    hashed = _bcrypt(PASSWORD)
    web_config = {
        "tls_server_config": {"cert_file": str(tls.cert), "key_file": str(tls.key)},
        "basic_auth_users": {USER: hashed},
    }
    (root / "web.yml").write_text(json.dumps(web_config))
    (root / "prometheus.yml").write_text(json.dumps({"global": {"scrape_interval": "1s"}}))
    port = _free_port()
    log = (root / "log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--web.config.file={root / 'web.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        _wait_ready(url, tls.cert, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _bcrypt(password: str) -> str:
    """A bcrypt hash, as Prometheus's web config wants: libxcrypt through the stdlib's
    ``crypt`` (deprecated, gone in Python 3.13), else Apache's ``htpasswd``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            crypt = None  # type: ignore[assignment]
    if crypt is not None:
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if shutil.which("htpasswd") is None:
        pytest.skip("no bcrypt: neither the crypt module nor htpasswd")
    line = subprocess.run(
        ["htpasswd", "-nbB", USER, password], check=True, capture_output=True, text=True
    ).stdout
    return line.strip().split(":", 1)[1]


def _wait_ready(url: str, ca: Path, process: subprocess.Popen[bytes]) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "prometheus exited"
        try:
            if requests.get(f"{url}/-/ready", auth=(USER, PASSWORD), verify=str(ca), timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)  # polling for readiness
    raise TimeoutError("prometheus not ready")


def settings(url: str, **extra: object) -> OperatorSettings:
    return OperatorSettings.model_validate(
        {"prometheus_url": url, "query_timeout_seconds": 3.0, **extra}
    )


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")  # Secrets often end with a newline
    return path


async def test_basic_auth_over_tls_with_a_private_ca(
    prometheus: str, tls: TlsFiles, password_file: Path
) -> None:
    reader = FleetMetricsReader(
        settings(
            prometheus,
            prometheus_username=USER,
            prometheus_password_file=password_file,
            prometheus_ca_file=tls.cert,
        )
    )
    assert (await reader.activation("vector(2.5)")).value == 2.5
    sample = await reader.sample()
    assert sample.read_error is None


async def test_a_wrong_password_is_unknown_with_the_servers_answer(
    prometheus: str, tls: TlsFiles, tmp_path: Path
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-it")
    reader = FleetMetricsReader(
        settings(
            prometheus,
            prometheus_username=USER,
            prometheus_password_file=wrong,
            prometheus_ca_file=tls.cert,
        )
    )
    answer = await reader.activation("vector(1)")
    assert answer.value is None
    assert answer.error is not None
    assert "401" in answer.error
    sample = await reader.sample()
    assert sample.read_error is not None
    assert "401" in sample.read_error
    assert sample.observations("ns", "md", 1).all_unknown


async def test_an_unknown_ca_is_refused_unless_told_to_skip_verification(
    prometheus: str, password_file: Path
) -> None:
    auth = {"prometheus_username": USER, "prometheus_password_file": password_file}
    refused = await FleetMetricsReader(settings(prometheus, **auth)).activation("vector(1)")
    assert refused.value is None
    assert refused.error is not None
    assert "SSL" in refused.error or "certificate" in refused.error
    skipping = settings(prometheus, prometheus_insecure_skip_verify=True, **auth)
    # Told to skip verification, it reads -- and says the connection is unverified.
    with pytest.warns(InsecureRequestWarning):
        assert (await FleetMetricsReader(skipping).activation("vector(1)")).value == 1.0


@pytest.fixture
async def bearer_front(prometheus: str, tls: TlsFiles) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """An HTTPS front that wants ``Bearer <accepted["token"]>`` and forwards to Prometheus.
    Under ``/prometheus`` it is Grafana Mimir's query path instead: no token, a tenant."""
    accepted = {"token": "first-token"}
    client_tls = ssl.create_default_context(cafile=str(tls.cert))
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    session = aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"})

    async def forward(request: web.Request) -> web.Response:
        path = request.path
        if path.startswith("/prometheus/"):
            # Mimir's answer without a tenant; one tenant's data only with it.
            if request.headers.get("X-Scope-OrgID") != "team-a":
                return web.Response(status=401, text="no org id")
            path = path.removeprefix("/prometheus")
        elif request.headers.get("Authorization") != f"Bearer {accepted['token']}":
            return web.Response(status=401, text="bad token")
        upstream = f"{prometheus}{path}"
        body = await request.read()  # the reader POSTs its queries, form-encoded
        headers = {"Content-Type": request.content_type} if body else {}
        async with session.request(
            request.method,
            upstream,
            params=request.query,
            data=body,
            headers=headers,
            ssl=client_tls,
        ) as answer:
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )

    app = web.Application()
    app.router.add_route("*", "/api/v1/query", forward)
    app.router.add_route("*", "/prometheus/api/v1/query", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tls.cert, tls.key)
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
    try:
        yield f"https://127.0.0.1:{port}", accepted
    finally:
        await runner.cleanup()
        await session.close()


async def test_a_rotated_bearer_token_is_used_on_the_next_query(
    bearer_front: tuple[str, dict[str, str]], tls: TlsFiles, tmp_path: Path
) -> None:
    url, accepted = bearer_front
    token = tmp_path / "token"
    token.write_text("first-token")
    reader = FleetMetricsReader(
        settings(url, prometheus_bearer_token_file=token, prometheus_ca_file=tls.cert)
    )
    assert (await reader.activation("vector(7)")).value == 7.0

    accepted["token"] = "second-token"  # the issuer rotates; the old one is refused
    refused = await reader.activation("vector(7)")
    assert refused.error is not None
    assert "401" in refused.error
    token.write_text("second-token")  # the kubelet refreshes the projected file
    assert (await reader.activation("vector(7)")).value == 7.0


async def test_a_multi_tenant_prometheus_gets_its_tenant_header(
    bearer_front: tuple[str, dict[str, str]], tls: TlsFiles
) -> None:
    url, _ = bearer_front
    mimir = f"{url}/prometheus"
    tenant = {"prometheus_ca_file": tls.cert, "prometheus_headers": {"X-Scope-OrgID": "team-a"}}
    reader = FleetMetricsReader(settings(mimir, **tenant))
    assert (await reader.activation("vector(3)")).value == 3.0
    assert (await reader.sample()).read_error is None
    without = await FleetMetricsReader(settings(mimir, prometheus_ca_file=tls.cert)).activation(
        "vector(3)"
    )
    assert without.error is not None
    assert "401" in without.error


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ('{"X-Scope-OrgID": 7}', "JSON object of strings"),
        ("X-Scope-OrgID=team-a", "not JSON"),
        ('{"X Scope": "a"}', "not an HTTP header name"),
        ('{"Authorization": "Bearer x"}', "credentials come from the bearer token"),
        ('{"Host": "prometheus"}', "set for each request"),
        ('{"X-Scope-OrgID": "a\\r\\nX-Evil: 1"}', "a value is one line"),
    ],
)
def test_prometheus_headers_that_cannot_be_sent_are_refused(value: str, refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        OperatorSettings.from_env({"GPUFLEET_PROMETHEUS_HEADERS": value})


def test_settings_come_from_the_environment_and_reject_two_auth_methods(tmp_path: Path) -> None:
    env = {
        "GPUFLEET_PROMETHEUS_URL": "https://prometheus.example:9090",
        "GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE": "/var/run/secrets/tokens/prometheus",
        "GPUFLEET_PROMETHEUS_CA_FILE": "/etc/prometheus-ca/ca.crt",
    }
    loaded = OperatorSettings.from_env(env)
    assert loaded.prometheus_bearer_token_file == Path("/var/run/secrets/tokens/prometheus")
    assert loaded.prometheus_ca_file == Path("/etc/prometheus-ca/ca.crt")
    assert loaded.prometheus_insecure_skip_verify is False
    both = {**env, "GPUFLEET_PROMETHEUS_USERNAME": "u", "GPUFLEET_PROMETHEUS_PASSWORD_FILE": "/p"}
    with pytest.raises(ValueError, match="prometheus_bearer_token_file"):
        OperatorSettings.from_env(both)
    with pytest.raises(ValueError, match="prometheus_password_file"):
        OperatorSettings.from_env({"GPUFLEET_PROMETHEUS_USERNAME": "u"})
    skip = OperatorSettings.from_env({"GPUFLEET_PROMETHEUS_INSECURE_SKIP_VERIFY": "true"})
    assert skip.prometheus_insecure_skip_verify is True
    tenant = OperatorSettings.from_env({"GPUFLEET_PROMETHEUS_HEADERS": '{"X-Scope-OrgID": "a|b"}'})
    assert tenant.prometheus_headers == {"X-Scope-OrgID": "a|b"}


async def test_activation_queries_sum_series_and_report_why_they_are_unknown(
    prometheus: str, tls: TlsFiles, password_file: Path
) -> None:
    reader = FleetMetricsReader(
        settings(
            prometheus,
            prometheus_username=USER,
            prometheus_password_file=password_file,
            prometheus_ca_file=tls.cert,
        )
    )
    two_series = (
        'label_replace(vector(2), "gw", "a", "", "") or label_replace(vector(3), "gw", "b", "", "")'
    )
    assert (await reader.activation(two_series)).value == 5.0
    assert (await reader.activation("scalar(vector(4))")).value == 4.0
    empty = await reader.activation('absent_metric_gpufleet{model="x"}')
    assert empty.value is None
    assert empty.error == "activation query returned no series"
    assert (await reader.activation("sum(absent_metric_gpufleet) or vector(0)")).value == 0.0
    broken = await reader.activation("sum(rate(")
    assert broken.value is None
    assert broken.error is not None
    assert broken.error.startswith("activation query failed")
    nan = await reader.activation("vector(0) / 0")
    assert nan.error == "activation query returned NaN/Inf"


async def test_the_tick_sampler_puts_the_activation_in_the_observations(
    prometheus: str, tls: TlsFiles, password_file: Path
) -> None:
    reader = FleetMetricsReader(
        settings(
            prometheus,
            prometheus_username=USER,
            prometheus_password_file=password_file,
            prometheus_ca_file=tls.cert,
        )
    )
    sampler = TickSampler(reader, max_age=5.0)
    # Zero pods: the fleet's own signals are unknown, the gateway's queue is not.
    obs = await sampler.observations("ns", "md", 0, activation_query="vector(12)")
    assert obs.activation == 12.0
    assert "activation" not in obs.unknown
    failed = await sampler.observations("ns", "md", 0, activation_query="sum(")
    assert failed.activation is None
    assert failed.unknown["activation"].startswith("activation query failed")
