"""The `teamgate` command: serve the gateway and check configuration files."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from teamgate import __version__
from teamgate.commands import register as register_management_commands
from teamgate.config.keys import KeyRing, build_keyring, check_keys, default_data_dir
from teamgate.config.loader import ConfigError, load_settings
from teamgate.config.schema import Settings

app = typer.Typer(
    help="teamgate: one gateway in front of Gemini for the whole team.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Work with configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

DEMO_CLIENT_KEY = "sk-demo"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="TEAMGATE_CONFIG",
        help="YAML configuration file. Without one, GEMINI_API_KEY from the environment is used.",
        dir_okay=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"teamgate {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """teamgate: one gateway in front of Gemini for the whole team."""


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[
        int, typer.Option(help="TCP port to listen on.", envvar="TEAMGATE_PORT")
    ] = 4000,
    log_level: Annotated[
        str, typer.Option(help="One of critical, error, warning, info, debug.")
    ] = "info",
    demo: Annotated[
        bool,
        typer.Option(help="Serve from a simulated Gemini upstream; no Google key is needed."),
    ] = False,
) -> None:
    """Start the gateway."""
    if log_level.lower() not in LOG_LEVELS:
        _fail(f"invalid --log-level {log_level!r}; use one of {', '.join(LOG_LEVELS)}")
    from teamgate.logs import configure_logging

    configure_logging(log_level)
    listen_host = host or "127.0.0.1"
    if demo:
        from teamgate.demo import demo_settings

        # The simulated upstream is reached on this server's own port, which
        # must therefore be known before the server starts.
        port = port or _free_port(listen_host)
        settings = demo_settings(config, port)
    else:
        settings = _load_or_exit(config)
    keyring = _keyring_or_exit(settings, config, demo)
    _announce(keyring, demo)
    _run(settings, keyring, listen_host, port, log_level.lower(), demo)


def _run(
    settings: Settings, keyring: KeyRing, host: str, port: int, log_level: str, demo: bool
) -> None:
    import uvicorn

    from teamgate.api.app import build_gateway, create_app

    gateway = build_gateway(settings, keyring, demo=demo)
    mounts = {}
    if demo:
        from teamgate.demo import demo_upstream_app

        mounts["/demo-upstream"] = demo_upstream_app()
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    if demo:
        # The demo's accounts live in a throwaway directory, so trying teamgate
        # leaves nothing in the real data directory.
        data_dir = Path(tempfile.mkdtemp(prefix="teamgate-demo-"))
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    application = create_app(
        gateway, extra_mounts=mounts, accounting=(settings.accounting, data_dir)
    )
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        server_header=False,
        # Client addresses are not used yet, so X-Forwarded-For is not parsed.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
        log_config=None,
    )


def _free_port(host: str) -> int:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def _load_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


def _keyring_or_exit(settings: Settings, config: Path | None, demo: bool) -> KeyRing:
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    extra = (DEMO_CLIENT_KEY,) if demo and not settings.api_keys else ()
    try:
        return build_keyring(
            settings,
            data_dir,
            extra_keys=extra,
            persist_admin=not demo,
            source=str(config) if config else "the environment",
        )
    except ConfigError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(
            f"cannot store the admin key in {data_dir}: {exc.strerror}; "
            "set data_dir in the configuration or TEAMGATE_DATA_DIR"
        )


def _announce(keyring: KeyRing, demo: bool) -> None:
    if keyring.generated_admin_key:
        typer.echo(
            "teamgate generated an admin key; it is shown only this once and stored hashed:\n"
            f"  {keyring.generated_admin_key}\n"
            "Clients send it as 'Authorization: Bearer <key>'.",
            err=True,
        )
    if demo:
        typer.echo(
            f"Demo mode: the upstream is simulated. Use the API key {DEMO_CLIENT_KEY}.", err=True
        )


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate a configuration file and print every problem with its key path."""
    try:
        settings = load_settings(config)
        issues = check_keys(settings)
    except ConfigError as exc:
        _fail(str(exc))
    if issues:
        _fail(str(ConfigError(str(config or "the environment"), issues)))
    source = str(config) if config else "the environment"
    typer.echo(
        f"{source}: OK ({len(settings.credentials)} credentials, {len(settings.models)} models)"
    )


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


register_management_commands(app)


def main() -> None:
    logging.captureWarnings(True)
    app()
