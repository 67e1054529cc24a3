"""``mtlid up``: the whole system on one machine, for development and demos.

Starts an embedded nats-server with JetStream (unless ``MTLID_NATS_URL`` is set), migrates
the three databases, prepares the demo data, then runs each service as its own child
process (as in production, where each is its own Deployment) plus the demo relying party.
Ctrl-C or SIGTERM stops every child, nats-server included, within 10 seconds.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import signal
import subprocess
import sys
import time

from services.common.config import SERVICES, Settings
from services.common.migrations import migrate
from services.common.nats import EmbeddedNats, embedded_url_file, free_port

STOP_TIMEOUT = 8.0


def _prepare_demo(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Identity's demo data (a demo resident, the demo RP's client, the services' clients)."""
    try:
        app = importlib.import_module("services.identity.demo")
    except ModuleNotFoundError:
        return {}, []
    result = app.prepare_demo(settings)
    return dict(result.get("env", {})), list(result.get("lines", []))


def run_everything(settings: Settings) -> int:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    embedded = None
    env = dict(os.environ)
    if not settings.nats_url:
        embedded = EmbeddedNats(settings.var_dir / "nats", free_port(settings.configured_ports)).start()
        env["MTLID_NATS_URL"] = embedded.url
        # `mtlid events …` in another terminal finds it here, with no variable to set.
        embedded_url_file(settings.var_dir).write_text(embedded.url + "\n")
    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for service in SERVICES:
            migrate(service, settings.database_url(service))
        demo_env, demo_lines = _prepare_demo(settings)
        env.update(demo_env)
        commands = [(s, ["serve", s]) for s in (*SERVICES, "mailer")]
        if "demo-rp" in _known_commands():
            commands.append(("demo-rp", ["demo-rp", "--quiet"]))
        log_dir = settings.var_dir / "log"
        for name, argv in commands:
            # Everything to var/log/<name>.jsonl; the terminal keeps the summary, then only
            # warnings and errors (readable on a terminal, JSON lines otherwise).
            logs = ["--log-file", str(log_dir / f"{name}.jsonl"), "--console-level", "WARNING"]
            child = subprocess.Popen([sys.executable, "-m", "services.cli", *argv, *logs], env=env)
            children.append((name, child))
        print("mtlid is starting:", flush=True)
        print(f"  NATS (JetStream)   {env['MTLID_NATS_URL']}" + ("  (embedded)" if embedded else ""))
        for service in SERVICES:
            print(f"  {service:<9} gRPC    {settings.grpc_target(service)}")
        print(f"  identity HTTP      {settings.issuer}  (OpenID discovery: {settings.issuer}/.well-known/openid-configuration, health: /healthz)")
        print(f"  Mon compte         {settings.issuer}/account   (sign up: {settings.issuer}/signup)")
        if any(name == "demo-rp" for name, _ in children):
            print(f"  demo montreal.ca   http://127.0.0.1:{settings.demo_rp_port}/")
        for line in demo_lines:
            print(f"  {line}")
        print(f"  mail               {_mail_hint(env)}")
        print("  metrics            " + ", ".join(
            f"{name} :{port}" for name, port in settings.metrics_ports.items() if port) + "  (Prometheus, /metrics)")
        print(f"  logs               {log_dir}/<service>.jsonl  (here: warnings and errors only)")
        print(f"  admin commands     {_command_hint()} --help   (README: Commands)")
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    print(f"mtlid: {name} exited with {child.returncode}; stopping everything", file=sys.stderr)
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        for _name, child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for _name, child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if embedded is not None:
            embedded.stop(timeout=1.5)
            embedded_url_file(settings.var_dir).unlink(missing_ok=True)
        print("mtlid stopped.", flush=True)
    failed = [name for name, child in children if child.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


def _mail_hint(env: dict[str, str]) -> str:
    if env.get("MTLID_SMTP_HOST"):
        return f"sent through {env['MTLID_SMTP_HOST']}"
    return f"kept in {Settings.from_env(env).var_dir / 'mailbox'} (Maildir): {_command_hint()} mailbox"


def _command_hint() -> str:
    """How to type ``mtlid`` in another terminal: as is when it is on PATH (an activated
    virtualenv, a pipx install), else the path of this one."""
    import shutil

    here = pathlib.Path(sys.executable).parent / "mtlid"
    on_path = shutil.which("mtlid")
    if on_path and pathlib.Path(on_path).resolve() == here.resolve():
        return "mtlid"
    try:
        return str(here.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(here)


def _known_commands() -> set[str]:
    from services.cli import build_parser

    parser = build_parser()
    for action in parser._subparsers._group_actions:  # argparse keeps sub-commands here
        return set(action.choices)
    return set()
