"""``mtlid``: run the services and administer them. Every admin command prints JSON.

    mtlid up                         everything, on the embedded default (development)
    mtlid serve identity|accounts|consent    one service, as Kubernetes runs it
    mtlid serve <service> --workers N   N processes sharing its ports, one supervisor (issue 24)
    mtlid serve mailer               the mail sender (identity's mail events → SMTP)
    mtlid migrate identity|accounts|consent|all
    mtlid config                     the validated configuration (secrets omitted)
    mtlid events dead-letters [--service S] | events replay ID…   poison events (issue 16)
    mtlid events outbox [--service S]  events waiting in the outboxes, the oldest one's age

Each service adds its own admin commands (``services/<svc>/entrypoints/cli.py: register``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from services.common.config import SERVICES, ConfigError, Settings

SERVICE_CLIS = ("services.identity.entrypoints.cli", "services.accounts.entrypoints.cli",
                "services.consent.entrypoints.cli", "services.identity.demo_rp.cli",
                "services.identity.card.cli", "services.identity.entrypoints.organization_cli")


def _settings(process: str | None = None) -> Settings:
    try:
        return Settings.from_env(process=process)
    except ConfigError as error:
        print(f"mtlid: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_event_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` to completion on uvloop's event loop when uvloop is installed (a
    dependency except on Windows), else on asyncio's own.

    uvloop (libuv) spends less CPU per wake-up, callback and socket operation than asyncio's
    pure-Python loop: measured at 12-14 % less CPU per token and introspection request and per
    gRPC call (bench/RESULTS.md). Every service runs on it: ``mtlid up`` starts each as
    ``mtlid serve``.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def cmd_serve(args: argparse.Namespace) -> int:
    from services.common.logging import configure
    from services.common.metrics import MetricsUnavailable, configure_metrics
    from services.common.nats import EmbeddedNats, free_port
    from services.common.runtime import build_runtime
    from services.common.telemetry import configure_tracing

    settings = _settings(args.service)
    mailer_settings = None
    if args.service == "mailer":  # no database, no gRPC: its own settings, checked before anything starts
        import os

        from services.mailer.config import MailerSettings

        try:
            mailer_settings = MailerSettings.from_env(os.environ, settings)
        except ConfigError as error:
            print(f"mtlid: configuration error: {error}", file=sys.stderr)
            return 2
    workers = args.workers or settings.workers
    if workers > 1 and settings.worker_index < 0:
        return _supervise_workers(args, settings, workers)
    configure(args.service, settings.log_level, console_level=args.console_level, log_file=args.log_file)
    configure_tracing(args.service, settings.otlp_endpoint, settings.otlp_protocol)
    try:
        metrics_port, metrics_host = settings.metrics_ports[args.service], settings.bind_host
        if metrics_port is not None and settings.worker_metrics_port is not None:
            # worker of several: its own loopback port; the supervisor serves the service's
            # metrics port with every worker's metrics (services/worker_metrics.py)
            metrics_port, metrics_host = settings.worker_metrics_port, "127.0.0.1"
        configure_metrics(args.service, host=metrics_host, port=metrics_port,
                          otlp_endpoint=settings.otlp_endpoint, production=settings.production,
                          otlp_protocol=settings.otlp_protocol)
    except MetricsUnavailable as error:
        print(f"mtlid: {error} (MTLID_{args.service.upper()}_METRICS_PORT)", file=sys.stderr)
        return 2
    embedded = None
    if not settings.nats_url:
        # Development convenience only; production refuses to start without MTLID_NATS_URL.
        embedded = EmbeddedNats(settings.var_dir / "nats", free_port(settings.configured_ports)).start()
        settings = settings.with_overrides(nats_url=embedded.url)
    if mailer_settings is None and settings.worker_index < 0 and (not settings.production or args.migrate):
        if not _migrate_in_child(args.service, settings.database_url(args.service)):
            return 2

    async def main() -> None:
        if mailer_settings is not None:
            from services.mailer.app import serve

            await serve(settings, mailer_settings)
            return
        runtime = build_runtime(args.service, settings)
        await runtime.run_until_signal(grace=args.grace)

    from services.common.runtime import ServiceFailed

    try:
        run_event_loop(main)
    except ServiceFailed as failure:
        print(f"mtlid: {args.service} stopped: {failure}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _migrate_in_child(service: str, url: str) -> bool:
    """``mtlid migrate <service>`` in a child process, before serving: the serving process
    never loads Alembic and the migration scripts, which it would otherwise keep for its whole
    life (about 12 MB of a service's < 150 MB at rest, issue 8). The URL travels in the
    child's environment, never on its command line (it may hold a password). False (the child
    said why on stderr) when the migration failed."""
    import os
    import subprocess

    environment = {**os.environ, f"MTLID_{service.upper()}_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "services.cli", "migrate", service], env=environment,
                          stdout=subprocess.DEVNULL)
    return done.returncode == 0


def _supervise_workers(args: argparse.Namespace, settings, workers: int) -> int:
    """``--workers N``: migrate once, start the embedded NATS once (development), then run N
    workers sharing the ports (services/workers.py)."""
    from services.common.migrations import migrate
    from services.common.nats import EmbeddedNats, free_port
    from services.workers import environment, supervise, worker_command

    if args.service == "mailer":
        print("mtlid: the mailer runs as one process (it serves no port): --workers is for "
              "identity, accounts and consent", file=sys.stderr)
        return 2
    extra = {"MTLID_WORKERS": str(workers)}
    embedded = None
    if not settings.nats_url:
        embedded = EmbeddedNats(settings.var_dir / "nats", free_port(settings.configured_ports)).start()
        extra["MTLID_NATS_URL"] = embedded.url
    try:
        if not settings.production or args.migrate:
            migrate(args.service, settings.database_url(args.service))
        metrics_port = settings.metrics_ports.get(args.service)
        return supervise(args.service, workers, worker_command(args.service, args.command_line), environment(extra),
                         grace=args.grace, drain_notice=settings.drain_notice_seconds,
                         metrics=(settings.bind_host, metrics_port) if metrics_port is not None else None)
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_migrate(args: argparse.Namespace) -> int:
    import os

    from services.common.config import database_url_from_env
    from services.common.migrations import migrate

    services = SERVICES if args.service == "all" else (args.service,)
    for service in services:
        # Only the database URL: a migration Job is given no keys and no NATS.
        try:
            migrate(service, database_url_from_env(os.environ, service))
        except ConfigError:
            raise
        except Exception as error:  # say which service and why, without a traceback wall
            print(f"mtlid: migrating {service} failed: {type(error).__name__}: {error}".splitlines()[0],
                  file=sys.stderr)
            return 1
    print(json.dumps({"migrated": list(services)}))
    return 0


def cmd_config(_args: argparse.Namespace) -> int:
    settings = _settings()
    shown = {
        "env": settings.env, "issuer": settings.issuer, "var_dir": str(settings.var_dir),
        "bind_host": settings.bind_host, "http_port": settings.http_port,
        "grpc_ports": dict(settings.grpc_ports), "grpc_targets": dict(settings.grpc_targets),
        "databases": {s: _redact(u) for s, u in settings.database_urls.items()},
        "nats_url": settings.nats_url or "embedded", "nats_stream_replicas": settings.nats_stream_replicas,
        "jwks_url": settings.jwks_url,
        "log_level": settings.log_level, "otlp_endpoint": settings.otlp_endpoint, "otlp_protocol": settings.otlp_protocol,
        "metrics_ports": dict(settings.metrics_ports),
        "drain_notice_seconds": settings.drain_notice_seconds,
        "outbox_retention_hours": settings.outbox_retention_hours,
        "workers": settings.workers, "release_consent_calls": settings.release_consent_calls,
    }
    print(json.dumps(shown, indent=2))
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _events_nats_url(args: argparse.Namespace) -> str:
    """``--nats-url``, else ``MTLID_NATS_URL``, else (development) the embedded server that
    ``mtlid up`` runs for this var dir (``var/nats/url``)."""
    from services.common.nats import embedded_url

    settings = _settings()
    url = args.nats_url or settings.nats_url or (None if settings.production else embedded_url(settings.var_dir))
    if not url:
        print("mtlid events: no NATS to ask: set MTLID_NATS_URL or --nats-url (in development, start "
              "`mtlid up` first: its embedded server is found in var/)", file=sys.stderr)
        raise SystemExit(2)
    return url


async def _with_jetstream(url: str, work):
    from services.common.nats import connect

    connection = await connect(url, name="mtlid-events")
    try:
        return await work(connection.jetstream())
    finally:
        await connection.close()


def _service_name(value: str) -> str:
    if not value.isascii() or not value.isalpha() or not value.islower():
        raise argparse.ArgumentTypeError(f"{value!r} is not a service name (identity, accounts, consent, mailer)")
    return value


def cmd_events_dead_letters(args: argparse.Namespace) -> int:
    from services.common.dead_letters import list_dead_letters

    # The mailer consumes too (identity's mail events): its dead letters are listed with the rest.
    services = [args.service] if args.service else [*SERVICES, "mailer"]

    async def work(js):
        return [letter for service in services for letter in await list_dead_letters(js, service)]

    print(json.dumps({"dead_letters": asyncio.run(_with_jetstream(_events_nats_url(args), work))}, indent=2))
    return 0


def cmd_events_replay(args: argparse.Namespace) -> int:
    from services.common.dead_letters import parse_id, replay

    for dead_letter_id in args.ids:
        try:
            parse_id(dead_letter_id)
        except ValueError as error:
            print(f"mtlid events replay: {error}", file=sys.stderr)
            return 2

    async def work(js):
        results = []
        for dead_letter_id in args.ids:
            try:
                results.append({**await replay(js, dead_letter_id), "replayed": True})
            except LookupError as error:
                results.append({"id": dead_letter_id, "replayed": False, "error": str(error)})
        return results

    results = asyncio.run(_with_jetstream(_events_nats_url(args), work))
    print(json.dumps({"replays": results}, indent=2))
    return 0 if all(r["replayed"] for r in results) else 1


def cmd_events_outbox(args: argparse.Namespace) -> int:
    """Outbox figures from each service's database (only its URL is needed, as for migrate)."""
    import os

    from services.common.config import database_url_from_env
    from services.common.db import create_engine, session_factory
    from services.common.relay import outbox_status

    async def status(service: str) -> dict:
        engine = create_engine(database_url_from_env(os.environ, service))
        try:
            return {"service": service, **await outbox_status(session_factory(engine))}
        finally:
            await engine.dispose()

    async def work() -> list[dict]:
        return [await status(service) for service in ([args.service] if args.service else SERVICES)]

    try:
        figures = asyncio.run(work())
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - say which and why, without a traceback wall
        print(f"mtlid events outbox: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    print(json.dumps({"outbox": figures}, indent=2))
    return 0


def cmd_up(_args: argparse.Namespace) -> int:
    from services.supervisor import run_everything

    return run_everything(_settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtlid", description="Montréal unified citizen identity")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole system on the embedded default (development)")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=(*SERVICES, "mailer"))
    serve.add_argument("--grace", type=float, default=8.0, help="seconds to drain on SIGTERM")
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes sharing the ports (default MTLID_WORKERS, else 1; issue 24)")
    serve.add_argument("--migrate", action="store_true", help="run migrations first (always in development)")
    serve.add_argument("--log-file", help="also write JSON log lines to this file (mtlid up: var/log/<service>.jsonl)")
    serve.add_argument("--console-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                       help="what reaches stderr (default MTLID_LOG_LEVEL; mtlid up: WARNING)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="upgrade a service's database to the latest schema")
    migrate.add_argument("service", choices=(*SERVICES, "all"))
    migrate.set_defaults(func=cmd_migrate)

    config = sub.add_parser("config", help="print the validated configuration (no secrets)")
    config.set_defaults(func=cmd_config)

    events = sub.add_parser("events", help="the event consumers' dead letters: list them, replay them")
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="EVENTS_COMMAND")
    dead = events_sub.add_parser("dead-letters", help="list dead letters (JSON), oldest first")
    dead.add_argument("--service", type=_service_name, help="only this service's consumers")
    dead.add_argument("--nats-url", help="default: MTLID_NATS_URL")
    dead.set_defaults(func=cmd_events_dead_letters)
    replay = events_sub.add_parser("replay", help="send dead letters back to the consumer that failed them")
    replay.add_argument("ids", nargs="+", metavar="ID", help="a dead letter id, e.g. consent:12")
    replay.add_argument("--nats-url", help="default: MTLID_NATS_URL")
    replay.set_defaults(func=cmd_events_replay)
    outbox = events_sub.add_parser("outbox", help="events waiting to be published, and the oldest one's age (JSON)")
    outbox.add_argument("--service", choices=SERVICES, help="only this service's database")
    outbox.set_defaults(func=cmd_events_outbox)

    for module_name in SERVICE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    # authlib warns about its own httpx integration's future; nothing for an operator to do.
    warnings.filterwarnings("ignore", message=".*httpx module is deprecated.*")
    args = build_parser().parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)  # what --workers repeats per worker
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"mtlid: configuration error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``mtlid config | head``): as any Unix tool, stop without a
        # traceback; stdout is pointed at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141   # 128 + SIGPIPE, what a shell reports for a tool killed by it


if __name__ == "__main__":
    sys.exit(main())
