"""The ``gpufleet`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gpufleet import KIND

if TYPE_CHECKING:
    from gpufleet.domain.manifest_file import ManifestObject
    from gpufleet.settings import OperatorSettings

app = typer.Typer(
    help="gpufleet: autoscale GPU inference fleets to a latency target within a cost budget.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def run(
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Watch only these namespaces (repeatable)."),
    ] = None,
    liveness: Annotated[
        str | None,
        typer.Option(
            help="Serve the liveness probe at this URL, e.g. http://:8080/healthz: without a"
            " host on every address, IPv4 and IPv6; with one (0.0.0.0, [::]) on that only."
        ),
    ] = None,
    standalone: Annotated[
        bool, typer.Option(help="Run without kopf peering (a single operator instance).")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve the operator's own Prometheus metrics on this port (/metrics)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: Annotated[str, typer.Option(help="plain or json")] = "plain",
) -> None:
    """Run the operator against the current kubeconfig (or in-cluster credentials).

    Settings come from GPUFLEET_* environment variables (see gpufleet.settings).
    """
    import kopf
    from pydantic import ValidationError

    import gpufleet.handlers  # noqa: F401  (registers the handlers)
    from gpufleet.observability.health import liveness_address, serving_liveness
    from gpufleet.observability.metrics import OperatorMetrics

    try:
        namespaces = watched_namespaces(namespace, os.environ)
    except ValidationError as err:
        bad = [e["input"] for e in err.errors() if e["loc"][:1] == ("namespaces",)]
        if bad:
            raise typer.BadParameter(
                f"not a namespace name: {', '.join(map(repr, bad))}",
                param_hint="--namespace / GPUFLEET_NAMESPACES",
            ) from err
        _exit_for_bad_settings("gpufleet run", err)
    except (ValueError, OSError) as err:
        _exit_for_bad_settings("gpufleet run", err)
    if liveness:
        try:
            liveness_address(liveness)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--liveness") from err
    _configure_logging(verbose, log_format)
    metrics = OperatorMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port)

    async def operate() -> None:
        # Not kopf's liveness endpoint: that binds one address family, and an IPv6-only
        # cluster's kubelet probes over IPv6 (gpufleet.observability.health).
        async with AsyncExitStack() as stack:
            if liveness:
                await stack.enter_async_context(serving_liveness(liveness))
            await kopf.operator(
                clusterwide=not namespaces,
                namespaces=namespaces,
                standalone=standalone,
                # The startup handler reads its settings from the environment: the flags
                # reach it here, so that Prometheus is read for the watched namespaces only.
                memo=kopf.Memo(metrics=metrics, namespaces=tuple(namespaces)),
            )

    # As kopf.run: a cancelled operator (its stop) is an exit, not an error.
    with suppress(asyncio.CancelledError):
        asyncio.run(operate())


def _settings_or_exit(command: str) -> OperatorSettings:
    """The settings from GPUFLEET_* variables, or exit 2 saying which is bad."""
    from gpufleet.settings import OperatorSettings

    try:
        return OperatorSettings.from_env(dict(os.environ))
    except (ValueError, OSError) as err:  # pydantic's ValidationError is a ValueError
        _exit_for_bad_settings(command, err)


def _exit_for_bad_settings(command: str, err: Exception) -> NoReturn:
    """A bad setting said once, naming its variable, and exit 2 -- instead of a traceback
    (in a cluster: a crash-looping operator pod)."""
    from pydantic import ValidationError

    from gpufleet.settings import problems

    # A ValidationError names settings; other errors come from a variable read before
    # validating and name it themselves.
    said = "; ".join(problems(err)) if isinstance(err, ValidationError) else str(err)
    typer.echo(f"{command}: invalid settings: {said}", err=True)
    raise typer.Exit(2) from err


def watched_namespaces(flags: list[str] | None, env: Mapping[str, str]) -> list[str]:
    """``--namespace`` flags, else ``GPUFLEET_NAMESPACES``; empty means cluster-wide.
    Either is validated as the ``namespaces`` setting (``pydantic.ValidationError``)."""
    from gpufleet.settings import OperatorSettings

    return list(OperatorSettings.from_env(dict(env), flags or ()).namespaces)


def _configure_logging(verbose: bool, log_format: str) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    elif log_format == "plain":
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    else:
        raise typer.BadParameter("--log-format must be plain or json")


@app.command()
def crds(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the ModelDeployment CRD generated from the spec models."""
    from gpufleet.domain.crd import render_crd_yaml

    text = render_crd_yaml()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as error:
        typer.echo(f"error: {output}: {error.strerror}", err=True)
        raise typer.Exit(2) from error


@app.command()
def validate(
    manifest: Annotated[Path, typer.Argument(help="A ModelDeployment YAML file ('-': stdin).")],
) -> None:
    """Check a ModelDeployment manifest as the operator would, naming any bad field.

    Every ModelDeployment in the file is checked and each problem said; other kinds are
    skipped. Exits 1 when one is invalid or there is none, 2 when the file cannot be read.
    """
    from gpufleet.domain.manifest_file import ManifestError, model_deployment_spec
    from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
    from gpufleet.domain.scaling.pause import pause_of
    from gpufleet.domain.spec import SpecError, check_namespace
    from gpufleet.services.reconcile import validate as validate_spec

    found = invalid = 0
    for obj in _model_deployments(manifest):
        found += 1
        label = obj.name or "?"
        if obj.name is None and "generateName" not in obj.metadata:
            # kubectl apply needs a name; the API server would refuse the object.
            invalid += 1
            typer.echo(f"{obj.where}: invalid: metadata.name: required", err=True)
            continue
        try:
            check_namespace(obj.metadata.get("namespace"))
            _, price = validate_spec(model_deployment_spec(obj), DEFAULT_GPU_PRICES, name=obj.name)
        except SpecError as error:
            invalid += 1
            for problem in error.problems:
                typer.echo(f"{label}: invalid: {problem}", err=True)
            continue
        except ManifestError as error:
            invalid += 1
            typer.echo(f"{label}: invalid: {error}", err=True)
            continue
        pause = pause_of(obj.annotations)
        if pause is not None and pause.problem is not None:
            # Applied, it would hold the fleet at whatever count it has (and say so).
            invalid += 1
            typer.echo(f"{label}: invalid: metadata.annotations: {pause.annotation} "
                       f"{pause.problem}", err=True)  # fmt: skip
            continue
        typer.echo(f"{label}: valid ({price:g} USD per GPU-hour)")
    if not found:
        typer.echo(f"{manifest}: no ModelDeployment in it", err=True)
    if invalid or not found:
        raise typer.Exit(1)


def _model_deployments(manifest: Path) -> list[ManifestObject]:
    """The file's (``-``: stdin's) ModelDeployment objects; one that cannot be read as a
    list of Kubernetes objects exits: 2 when it cannot be read at all, 1 when it is not
    objects kubectl could apply (naming the line, column or document)."""
    from gpufleet.domain.manifest_file import ManifestError, read_objects
    from gpufleet.text_file import read_utf8

    try:
        text = sys.stdin.read() if str(manifest) == "-" else read_utf8(manifest)
    except ValueError as error:  # not UTF-8
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    except OSError as error:
        typer.echo(f"{manifest}: {error.strerror or error}", err=True)
        raise typer.Exit(2) from error
    try:
        objects = read_objects(text, str(manifest))
    except ManifestError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    return [obj for obj in objects if obj.kind == KIND]


PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"
"""The owner reference's uid when the manifest has none (the API server assigns it)."""


@app.command()
def render(
    manifest: Annotated[Path, typer.Argument(help="A ModelDeployment YAML file ('-': stdin).")],
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="For manifests without metadata.namespace."),
    ] = None,
) -> None:
    """Print the children the operator would create for each ModelDeployment, as YAML.

    Like ``helm template``: the Deployment, Service, PodDisruptionBudget (and NetworkPolicy
    when asked for), built by the operator's own manifest builders with its settings from
    GPUFLEET_* variables. Nothing is sent to a cluster. An invalid spec exits 1 naming the field.
    """
    import yaml

    from gpufleet.domain.manifest_file import ManifestError, model_deployment_spec
    from gpufleet.domain.manifests.children import CHILD_KINDS, OPTIONAL_CHILD_KINDS
    from gpufleet.domain.manifests.identity import Owner
    from gpufleet.domain.spec import SpecError, check_namespace
    from gpufleet.services.reconcile import build_context
    from gpufleet.services.reconcile import validate as validate_spec

    try:
        check_namespace(namespace)
    except SpecError as error:
        raise typer.BadParameter(error.message, param_hint="--namespace") from error
    settings = _settings_or_exit("gpufleet render")
    documents: list[str] = []
    for obj in _model_deployments(manifest):
        owner = Owner(
            name=obj.name or "",
            namespace=str(obj.metadata.get("namespace") or namespace or "default"),
            uid=str(obj.metadata.get("uid") or PLACEHOLDER_UID),
        )
        try:
            check_namespace(owner.namespace)
            raw_spec = model_deployment_spec(obj)
            spec, price = validate_spec(raw_spec, settings.gpu_prices, name=owner.name)
        except (SpecError, ManifestError) as error:
            typer.echo(f"{owner.name or '?'}: invalid: {error}", err=True)
            raise typer.Exit(1) from error
        context = build_context(settings, spec, price)
        for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS):
            if not kind.wanted(spec):
                continue
            child = kind.build(owner, spec, context)
            source = f"# Source: ModelDeployment {owner.namespace}/{owner.name} -> {kind.kind}\n"
            documents.append(source + yaml.safe_dump(child, sort_keys=False))
    if not documents:
        typer.echo(f"{manifest}: no ModelDeployment in it", err=True)
        raise typer.Exit(1)
    sys.stdout.write("".join(f"---\n{document}" for document in documents))


PLUGIN_GROUP = "gpufleet.commands"
"""Entry-point group of sub-commands that other distributions add (a Typer app each)."""

PLUGIN_HOMES = {"local": "the gpufleet-devtools distribution (in the repository: make venv)"}
"""Plugin sub-commands users know from the docs, and where each comes from."""

SIM_NEEDS = ("numpy", "matplotlib")
"""What ``gpufleet sim`` and ``gpufleet profile`` import beyond the base install: the
``sim`` extra (``profile`` also needs tritonclient, from the ``server`` extra, when it runs)."""


def _mount_sub_apps() -> None:
    """``gpufleet sim``/``profile`` (with the ``sim`` extra) and every plugin sub-command.

    ``gpufleet local`` lives in the gpufleet-devtools distribution, which registers it under
    ``gpufleet.commands``: the product never imports the dev tools, and the command exists
    exactly when they are installed. A command whose parts are missing answers with where
    to get them, rather than "No such command" (or, worse, breaking ``gpufleet run``).
    """
    import importlib.util
    from importlib.metadata import entry_points

    if all(importlib.util.find_spec(module) for module in SIM_NEEDS):
        from gpufleet.profiling.cli import app as profile_app
        from gpufleet.sim.cli import app as sim_app

        app.add_typer(sim_app, name="sim", help="Simulate a fleet on a request trace.")
        app.add_typer(profile_app, name="profile", help=profile_app.info.help)
    else:
        for name in ("sim", "profile"):
            _add_missing(name, "the sim extra: pip install 'gpufleet[sim]'")
    mounted = set()
    for entry in entry_points(group=PLUGIN_GROUP):
        plugin = entry.load()
        app.add_typer(plugin, name=entry.name, help=plugin.info.help)
        mounted.add(entry.name)
    for name, home in PLUGIN_HOMES.items():
        if name not in mounted:
            _add_missing(name, home)


def _add_missing(name: str, home: str) -> None:
    """A hidden stand-in for a sub-command that is not installed, saying where it comes from."""

    @app.command(
        name=name,
        hidden=True,
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def missing() -> None:
        typer.echo(f"`gpufleet {name}` is not installed: it comes with {home}.", err=True)
        raise typer.Exit(2)


_mount_sub_apps()

if __name__ == "__main__":  # pragma: no cover
    app()
