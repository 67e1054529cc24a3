"""Issue 19: one trace across the processes. ``mtlid up`` runs as real processes exporting
spans over OTLP/HTTP to a real receiver started here, which decodes the protobuf export
requests (opentelemetry-proto).

A sign-up: a resident posts the sign-up form with a ``traceparent`` (identity's HTTP front,
opentelemetry-instrumentation-asgi); identity's outbox → NATS (the CloudEvents tracing
extension in the envelope) → accounts' consumer of ``resident_registered``, which asks
identity for the address (gRPC), and the mailer's consumer of the code's mail: one trace.

A release: a partner asks accounts to release a resident's
attributes under its pairwise identifier, with a W3C ``traceparent`` of its own: accounts
(gRPC server) asks identity to resolve the subject (gRPC), the consent register to record the
access (gRPC), and publishes ``attributes_released`` through its outbox → NATS, which the
consent service consumes — every span of those hops, and the database statements under them
(opentelemetry-instrumentation-sqlalchemy on SQLite, -asyncpg on PostgreSQL), carry the partner's trace id. No exported span
names the resident's address or carries a token.

A closing, in the order issue 19 names (identity → NATS → accounts → consent): the resident
closes their account in Mon compte (identity's HTTP span); identity's ``resident_closed`` →
NATS → accounts' consumer, which suspends the partner's account and publishes
``service_account_suspended`` through its outbox → NATS → consent's consumer, which appends the
``service_informed`` entry to the resident's history. One trace id, asserted hop by hop: each
consumer span's parent is a span of the service before it."""

from __future__ import annotations

import gzip
import html
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common.nats import free_port
from tests.e2e.system import System

PARTNER_CLIENT, PARTNER_SERVICE, BROKER = "velo-trace", "velo-trace-service", "trace-broker"
EMAIL = "trace@example.ca"
PASSWORD = "une phrase de passe trace"


class OtlpReceiver:
    """An OTLP/HTTP receiver (OTLP spec, "OTLP/HTTP"): POST /v1/traces with a protobuf
    ``ExportTraceServiceRequest``, answered 200 with an empty ``ExportTraceServiceResponse``."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    assert self.headers.get("Content-Type") == "application/x-protobuf"
                    receiver._add(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _add(self, request) -> None:
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append({"service": resource.get("service.name"), "name": span.name,
                                  "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                  "parent": span.parent_span_id.hex(), "kind": span.kind,
                                  "scope": scope_spans.scope.name,
                                  "attributes": {a.key: str(a.value).strip() for a in span.attributes}})
        with self.lock:
            self.spans.extend(found)

    def trace(self, trace_id: str) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def stop(self) -> None:
        self.server.shutdown()


class TracedSystem(System):
    receiver: OtlpReceiver | None = None

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update({"MTLID_OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver.url,
                    "MTLID_OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_BSP_SCHEDULE_DELAY": "200"})   # the SDK's batch delay: spans arrive within the test
        return env


def _database_scope(system) -> str:
    """The instrumentation that traces the database of this run: asyncpg's on PostgreSQL
    (services.common.telemetry), SQLAlchemy's on SQLite."""
    return ("opentelemetry.instrumentation.asyncpg" if system.database_urls
            else "opentelemetry.instrumentation.sqlalchemy")


def _token(system, client_id: str, secret: str, scope: str, audience: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {system.client_token(client_id, secret, scope, audience)}"),)


def _new_trace() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _wait_for(receiver: OtlpReceiver, trace_id: str, complete, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while not complete(receiver.trace(trace_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the last batches of the other spans
    return receiver.trace(trace_id)


def _sign_up(system, email: str, traceparent: str) -> None:
    """The sign-up form as a browser without JavaScript posts it; the trace header is what
    a tracing proxy in front of identity would add."""
    with httpx.Client(base_url=system.issuer, timeout=10) as browser:
        page = browser.get("/signup")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        done = browser.post("/signup", headers={"traceparent": traceparent}, data={
            "csrf_token": csrf, "email": email, "password": "une phrase de passe inscrite",
            "password_confirm": "une phrase de passe inscrite"})
        assert done.status_code == 303, done.text[:500]


def _hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def _close_account(system, email: str, password: str, traceparent: str) -> None:
    """Mon compte as a browser without JavaScript uses it: sign in, then "Fermer mon compte"
    with the current password; the trace header only on the closing request."""
    with httpx.Client(base_url=system.issuer, timeout=10) as browser:
        login = browser.get("/account/login")
        signed_in = browser.post("/account/login", data={**_hidden_fields(login.text), "email": email,
                                                         "password": password})
        assert signed_in.is_redirect and signed_in.headers["location"] == "/account", signed_in.headers
        explained = browser.get("/account/close")
        assert explained.status_code == 200, explained.text[:500]
        closed = browser.post("/account/close", headers={"traceparent": traceparent},
                              data={**_hidden_fields(explained.text), "current_password": password})
        assert closed.status_code == 200 and "Votre compte est fermé" in closed.text, closed.text[:500]


def _ancestors(span: dict, spans: list[dict]) -> list[dict]:
    by_id, chain = {s["span_id"]: s for s in spans}, []
    while span["parent"] in by_id:
        span = by_id[span["parent"]]
        chain.append(span)
    return chain


def test_a_sign_up_and_a_release_are_each_one_trace_across_the_processes_and_nats(tmp_path):
    receiver = OtlpReceiver()
    system = TracedSystem(str(tmp_path / "var"))
    system.receiver = receiver
    system.start()
    try:
        signup_trace, traceparent = _new_trace()
        _sign_up(system, "inscrit-trace@example.ca", traceparent)
        signup = _wait_for(receiver, signup_trace, lambda spans: {
            ("mtlid-accounts", "consume montreal.identity.v1.resident_registered"),
            ("mtlid-mailer", "consume montreal.identity.v1.email_verification_requested"),
        } <= {(s["service"], s["name"]) for s in spans})
        partner = system.cli("client", "create", "--name", "Vélo Trace", "--client-id", PARTNER_CLIENT,
                             "--grant-type", "client_credentials", "--scope", "accounts:link",
                             "--scope", "accounts:release", "--audience", "urn:mtlid:accounts")
        broker = system.cli("client", "create", "--name", "Trace broker", "--client-id", BROKER,
                            "--grant-type", "client_credentials", "--scope", "identity:resolve",
                            "--audience", "urn:mtlid:identity", "--city")
        system.cli("service", "create", "--id", PARTNER_SERVICE, "--kind", "partner", "--name-fr", "Vélo Trace",
                   "--name-en", "Vélo Trace", "--owner", "Vélo Trace (OBNL)", "--client-id", PARTNER_CLIENT,
                   "--attribute", "email", "--purpose", "service-provision")
        resident = system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD,
                              "--verified")["resident_id"]
        with grpc.insecure_channel(system.target("identity")) as channel:
            subject = identity_pb2_grpc.IdentityServiceStub(channel).GetClientSubject(
                identity_pb2.GetClientSubjectRequest(client_id=PARTNER_CLIENT, resident_id=resident),
                metadata=_token(system, BROKER, broker["client_secret"], "identity:resolve", "urn:mtlid:identity"),
                timeout=5).subject
        metadata = _token(system, PARTNER_CLIENT, partner["client_secret"], "accounts:link accounts:release",
                          "urn:mtlid:accounts")
        with grpc.insecure_channel(system.target("accounts")) as channel:
            accounts = accounts_pb2_grpc.AccountsServiceStub(channel)
            deadline = time.monotonic() + 20
            while True:  # accounts learns of the resident from identity's resident_registered event
                try:
                    account = accounts.LinkAccount(apb.LinkAccountRequest(
                        service_id=PARTNER_SERVICE, resident_id=subject, account_reference="VT-1"),
                        metadata=metadata, timeout=5).account
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            accounts.ActivateAccount(apb.ActivateAccountRequest(account_id=account.account_id, reason="ouvert"),
                                     metadata=metadata, timeout=5)
            # The partner's own trace: what its operator would look up in the city's traces.
            # The consent register learns of the new service from accounts' service_registered
            # event: until it has, the release is withheld (no basis known) — ask again, each
            # time in a new trace, and follow the one that released.
            deadline = time.monotonic() + 20
            while True:
                trace_id, traceparent = _new_trace()
                released = accounts.ReleaseAttributes(apb.ReleaseAttributesRequest(
                    service_id=PARTNER_SERVICE, resident_id=subject, purpose_id="service-provision",
                    attributes=["email"]), metadata=(*metadata, ("traceparent", traceparent)), timeout=10)
                if released.access_id or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert released.access_id

        spans = _wait_for(receiver, trace_id, lambda spans: any(
            s["service"] == "mtlid-consent" and s["name"].startswith("consume ") for s in spans))

        # The closing: the partner's account VT-1 is active, so accounts suspends it and tells.
        closing_trace, traceparent = _new_trace()
        _close_account(system, EMAIL, PASSWORD, traceparent)
        closing = _wait_for(receiver, closing_trace, lambda spans: any(
            s["service"] == "mtlid-consent" and s["name"] == "consume montreal.accounts.v1.service_account_suspended"
            for s in spans))
        with grpc.insecure_channel(system.target("accounts")) as channel:
            [suspended] = [a for a in accounts_pb2_grpc.AccountsServiceStub(channel).ListAccounts(
                apb.ListAccountsRequest(service_id=PARTNER_SERVICE), metadata=metadata, timeout=5).accounts
                if a.account_id == account.account_id]
        informed = system.query("consent", "SELECT recipient_id FROM ledger_entries WHERE resident_id = ? "
                                           "AND entry_type = 'service_informed'", resident)
    finally:
        system.stop()
        receiver.stop()

    # The sign-up: identity's HTTP front → its outbox → NATS → accounts (→ identity over gRPC)
    # and the mailer, all in the resident's request's trace.
    summary = json.dumps(sorted({(s["service"], s["name"]) for s in signup}), indent=1)
    [front] = [s for s in signup if s["service"] == "mtlid-identity" and s["kind"] == 2   # SERVER
               and s["scope"] == "opentelemetry.instrumentation.asgi"]
    assert front["name"] == "POST /signup" and "?" not in json.dumps(front["attributes"]), summary
    [registered] = [s for s in signup if s["name"] == "consume montreal.identity.v1.resident_registered"]
    assert registered["service"] == "mtlid-accounts" and registered["kind"] == 5, summary  # CONSUMER
    assert registered["parent"] in {s["span_id"] for s in signup if s["service"] == "mtlid-identity"}, summary
    assert any(s["service"] == "mtlid-identity" and s["name"].endswith("IdentityService/GetResidentContact")
               for s in signup), summary
    assert any(s["service"] == "mtlid-mailer" for s in signup), summary

    by_service = {}
    for span in spans:
        by_service.setdefault(span["service"], []).append(span)
    summary = json.dumps(sorted({(s["service"], s["name"]) for s in spans}), indent=1)
    assert {"mtlid-accounts", "mtlid-identity", "mtlid-consent"} <= set(by_service), summary
    names = {(s["service"], s["name"]) for s in spans}
    # gRPC, each side: accounts serves the partner, calls identity and consent, which serve it.
    assert ("mtlid-accounts", "/montreal.accounts.v1.AccountsService/ReleaseAttributes") in names, summary
    assert ("mtlid-identity", "/montreal.identity.v1.IdentityService/ResolveSubject") in names, summary
    assert ("mtlid-consent", "/montreal.consent.v1.ConsentService/CheckAndRecord") in names, summary   # issue 24: one call
    # NATS: consent's consumer continues the trace the accounts outbox row captured.
    [consumed] = [s for s in spans if s["service"] == "mtlid-consent"
                  and s["name"] == "consume montreal.accounts.v1.attributes_released"]
    assert consumed["kind"] == 5  # SPAN_KIND_CONSUMER
    assert consumed["parent"] in {s["span_id"] for s in by_service["mtlid-accounts"]}, summary
    # The database layer, by the maintained instrumentations, inside the same trace: on SQLite
    # SQLAlchemy's; on PostgreSQL asyncpg's, which also sees the statements that go straight to
    # asyncpg (issue 24: accounts' point reads through services/common/reads.py and its release
    # outbox on a connection of its own), and SQLAlchemy's statements through asyncpg.
    database = _database_scope(system)
    accounts_statements = [s["attributes"].get("db.statement", s["attributes"].get("db.query.text", ""))
                           for s in by_service["mtlid-accounts"] if s["scope"] == database]
    assert accounts_statements, summary
    assert {s["service"] for s in spans if s["scope"] == database} >= {"mtlid-accounts", "mtlid-identity"}, summary
    if system.database_urls:
        # The asyncpg-only path of the release itself, in the partner's trace: accounts' point
        # read of the service, account and profile (accounts/adapters/release_reads.py through
        # services/common/reads.py), which never goes through SQLAlchemy.
        assert any("FROM profiles AS p" in statement for statement in accounts_statements), accounts_statements
        assert not any(s["scope"] == "opentelemetry.instrumentation.sqlalchemy" for s in receiver.spans), summary
        # The release's outbox row, on accounts' own asyncpg connection, is traced too, but as a
        # trace of its own: a group commit writes the rows of every release waiting at that
        # moment in one statement (accounts/adapters/release_outbox.py), in a context of its
        # own (services.common.reads.Groups), so it is no one request's child.
        grouped = [s for s in receiver.spans if s["service"] == "mtlid-accounts" and s["scope"] == database
                   and "INSERT INTO outbox" in s["attributes"].get("db.statement", "")
                   and "unnest" in s["attributes"].get("db.statement", "")]
        assert grouped and all(s["trace_id"] != trace_id for s in grouped), summary
    # Nothing personal or secret in any exported span.
    exported = json.dumps(receiver.spans)
    assert EMAIL not in exported and "Bearer" not in exported and partner["client_secret"] not in exported

    # The closing, hop by hop, in one trace: identity's HTTP span → (resident_closed, NATS) →
    # accounts' consumer → (service_account_suspended, accounts' outbox, NATS) → consent's
    # consumer → the ledger append.
    assert suspended.state == apb.ACCOUNT_STATE_SUSPENDED
    assert informed == [(PARTNER_SERVICE,)]
    summary = json.dumps(sorted({(s["service"], s["name"]) for s in closing}), indent=1)
    [front] = [s for s in closing if s["service"] == "mtlid-identity" and s["kind"] == 2
               and s["scope"] == "opentelemetry.instrumentation.asgi"]
    assert front["name"] == "POST /account/close", summary
    identity_ids = {s["span_id"] for s in closing if s["service"] == "mtlid-identity"}
    [closed] = [s for s in closing if s["name"] == "consume montreal.identity.v1.resident_closed"]
    assert closed["service"] == "mtlid-accounts" and closed["kind"] == 5, summary        # CONSUMER
    assert closed["parent"] in identity_ids, summary
    assert front in _ancestors(closed, closing), summary   # the resident's request began it
    accounts_ids = {s["span_id"] for s in closing if s["service"] == "mtlid-accounts"}
    [told] = [s for s in closing if s["name"] == "consume montreal.accounts.v1.service_account_suspended"]
    assert told["service"] == "mtlid-consent" and told["kind"] == 5, summary
    assert told["parent"] in accounts_ids, summary
    assert closed in _ancestors(told, closing), summary    # accounts published it while consuming
    appended = [s for s in closing if s["service"] == "mtlid-consent"
                and s["scope"] == database
                and "INSERT INTO ledger_entries" in json.dumps(s["attributes"])]
    assert appended and all(told in _ancestors(s, closing) for s in appended), summary
    assert {s["trace_id"] for s in closing} == {closing_trace}
    exported = json.dumps(closing)
    assert EMAIL not in exported and PASSWORD not in exported
