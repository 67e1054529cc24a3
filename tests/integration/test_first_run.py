"""Issue 19, "a quiet, obvious first run": what a new user sees in the terminal after
``mtlid up`` (as ``make up`` runs it), in a real pseudo-terminal, and what a script sees.

After the summary the terminal shows only warnings and errors, in a readable line format; no
warning for the moments before NATS is up, no deprecation warning, no stray JSON line; every
log line goes, as JSON, to ``var/log/<service>.jsonl``.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import pty
import signal
import subprocess
import sys
import threading

import httpx

from services.common.nats import free_port
from services.common.testing.tokens import TokenMinter
from tests.integration.test_processes import _env, _listening, _serving, _wait


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child side closed
            return
        if not chunk:
            return
        into.append(chunk)


def test_mtlid_up_on_a_terminal_shows_the_summary_then_only_what_needs_a_person(tmp_path):
    ports = {name: free_port() for name in ("identity", "accounts", "consent", "http", "rp")}
    env = _env(tmp_path, MTLID_IDENTITY_GRPC_PORT=str(ports["identity"]),
               MTLID_ACCOUNTS_GRPC_PORT=str(ports["accounts"]), MTLID_CONSENT_GRPC_PORT=str(ports["consent"]),
               MTLID_HTTP_PORT=str(ports["http"]), MTLID_ISSUER=f"http://127.0.0.1:{ports['http']}",
               MTLID_DEMO_RP_PORT=str(ports["rp"]),
               **{f"MTLID_{p.upper()}_METRICS_PORT": str(free_port())
                  for p in ("identity", "accounts", "consent", "mailer")})
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], env=env, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(controller, chunks), daemon=True)
    reader.start()
    try:
        for service in ("identity", "accounts", "consent"):
            assert _wait(lambda: _serving(ports[service])), f"{service} never SERVING"
        assert _wait(lambda: _listening(ports["http"]) and _listening(ports["rp"]))
        # Some work that logs at INFO and sends events: a page, the demo RP, the catalogue seed.
        assert httpx.get(f"http://127.0.0.1:{ports['http']}/signup").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports['rp']}/").status_code == 200
        log_dir = tmp_path / "var" / "log"
        assert _wait(lambda: (log_dir / "accounts.jsonl").exists()
                     and "catalogue seeded" in (log_dir / "accounts.jsonl").read_text(), timeout=30)
        # The README's mail path in development: a resident created from the CLI gets a code
        # that the mailer (a child of `mtlid up`) delivers to var/mailbox; `mtlid mailbox` reads it.
        email = "premiere.fois@example.ca"
        created = subprocess.run([sys.executable, "-m", "services.cli", "resident", "create", "--email", email,
                                  "--language", "en"], env=env, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        mail = None
        for _ in range(60):
            shown = subprocess.run([sys.executable, "-m", "services.cli", "mailbox"], env=env,
                                   capture_output=True, text=True, timeout=60)
            mail = next((m for m in map(json.loads, shown.stdout.splitlines()) if m["to"] == email), None)
            if mail:
                break
        assert mail is not None, "the code never reached var/mailbox"
        assert mail["purpose"] == "confirm_email" and len(mail["code"]) == 6 and mail["language"] == "fr, en"
        # The README's `mtlid events …` as written, in another terminal: no MTLID_NATS_URL to
        # copy, the embedded server (a new port at each start) is found through var/.
        assert "MTLID_NATS_URL" not in env
        events = subprocess.run([sys.executable, "-m", "services.cli", "events", "dead-letters"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert events.returncode == 0, events.stderr
        assert json.loads(events.stdout) == {"dead_letters": []}
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        # Stopped: the server's address is gone, and the command says what to do.
        assert not (tmp_path / "var" / "nats" / "url").exists()
        events = subprocess.run([sys.executable, "-m", "services.cli", "events", "dead-letters"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert events.returncode == 2 and "MTLID_NATS_URL" in events.stderr and "Traceback" not in events.stderr
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=5)
        os.close(controller)
    screen = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    summary, _, after = screen.partition("Ctrl-C stops everything.")
    assert "demo resident" in summary and "admin commands" in summary and "logs " in summary
    after = after.replace("mtlid stopped.", "").strip()
    assert after == "", f"the terminal showed more than the summary:\n{after}"
    assert "Warning" not in screen and "{" not in screen, screen
    # Everything went to the files instead, as JSON lines at MTLID_LOG_LEVEL (INFO).
    for name in ("identity", "accounts", "consent", "mailer", "demo-rp"):
        lines = [json.loads(line) for line in (log_dir / f"{name}.jsonl").read_text().splitlines()]
        assert lines or name == "demo-rp"
        assert all(entry["service"] == name for entry in lines)
    identity = [json.loads(line) for line in (log_dir / "identity.jsonl").read_text().splitlines()]
    assert any(entry["message"] == "service started" and entry["level"] == "INFO" for entry in identity)


@contextlib.contextmanager
def _published_keys():
    """Identity's JWKS as a plain HTTP document: a service is SERVING only once it holds the
    issuer's keys (issue 16), and this test is about the service's own start, not identity's."""
    body = json.dumps(TokenMinter().jwks()).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()


def test_mtlid_serve_without_a_terminal_writes_json_lines(tmp_path):
    port = free_port()
    with _published_keys() as jwks_url:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "consent"],
                                   env=_env(tmp_path, MTLID_CONSENT_GRPC_PORT=str(port), MTLID_JWKS_URL=jwks_url,
                                            MTLID_CONSENT_METRICS_PORT=str(free_port())),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _stop_after_serving(process, port)
    entries = [json.loads(line) for line in process.stderr_text.splitlines() if line.strip()]
    assert any(entry["message"] == "service started" for entry in entries)
    # The embedded NATS takes a moment: no warning for that, and no failure to publish.
    assert not [entry for entry in entries if entry["level"] in ("WARNING", "ERROR")], entries


def _stop_after_serving(process: subprocess.Popen, port: int) -> None:
    try:
        assert _wait(lambda: _serving(port, "montreal.consent.v1.ConsentService"))
        process.send_signal(signal.SIGTERM)
        _, process.stderr_text = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()


def test_ledger_verify_shows_progress_on_a_terminal_and_only_json_in_a_script(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "services.cli", "migrate", "consent"], env=env, check=True,
                   capture_output=True)
    scripted = subprocess.run([sys.executable, "-m", "services.cli", "ledger", "verify"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert scripted.returncode == 0, scripted.stderr
    assert json.loads(scripted.stdout)["ok"] is True
    assert scripted.stderr == ""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "ledger", "verify"], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(controller, chunks), daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=60)
    reader.join(timeout=5)
    os.close(controller)
    assert json.loads(stdout)["ok"] is True
    assert "mtlid ledger verify: leaves" in b"".join(chunks).decode()
