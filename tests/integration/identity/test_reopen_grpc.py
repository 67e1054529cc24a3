"""Reopening, at an Accès Montréal counter, an account the resident closed (issue 21): the
gRPC ``ReopenResident`` through a real server (real database, real NATS), guarded like the
other agent methods (scope ``identity:agent``, the agent named in ``act.sub``)."""

from __future__ import annotations

import uuid

import grpc
from sqlalchemy import select

from montreal.identity.v1 import identity_pb2 as pb
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.adapters.orm import AgentActionRow, ResidentClosureRow
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.service_layer import account_closure as closure
from services.identity.service_layer import authentication as auth
from tests.integration.identity.conftest import KEK, outbox_events
from tests.integration.identity.test_identity_grpc import (  # noqa: F401 - the module's fixtures
    _error, clients, keyring, mint, service, stub_for,
)

PASSWORD = "une phrase de passe"


async def _closed_resident(clients, sessions) -> tuple[str, str]:
    password_hash = await auth.hashing.run(auth.passwords.hash_password, PASSWORD)
    async with clients() as uow:
        resident = await auth.add_new_resident(uow, email=f"ferme-{uuid.uuid4().hex[:8]}@example.ca",
                                               password_hash=password_hash, preferred_language="fr",
                                               now=auth.utcnow(), email_verified=True)
        await uow.commit()
    rid = resident.resident_id
    receipt = await closure.close_account(closure.CloseAccount(rid, PASSWORD), OAuthUnitOfWork(sessions, kek=KEK))
    return rid, receipt.closure_id


async def test_an_agent_reopens_a_closed_account_and_is_recorded(clients, sessions, stub_for):
    rid, closure_id = await _closed_resident(clients, sessions)
    request = pb.ReopenResidentRequest(citizen_number=CitizenNumber(rid).human,
                                       document_type=pb.DOCUMENT_TYPE_PASSPORT)
    nameless = await stub_for("acces-montreal-counter", ["identity:agent"])
    code, _, reason = await _error(nameless.ReopenResident(request))
    assert code == grpc.StatusCode.PERMISSION_DENIED and reason == "AGENT_NOT_IDENTIFIED"
    borough = await stub_for("plateau-permits", ["identity:resolve"], act="agent-0001")
    code, _, _ = await _error(borough.ReopenResident(request))
    assert code == grpc.StatusCode.PERMISSION_DENIED

    agent = await stub_for("acces-montreal-counter", ["identity:agent"], act="agent-0314")
    reopened = await agent.ReopenResident(request)
    assert reopened.resident_id == rid and reopened.closure_id == closure_id
    async with sessions() as session:
        action = await session.get(AgentActionRow, reopened.action_id)
        record = await session.get(ResidentClosureRow, closure_id)
    assert action.agent_id == "agent-0314" and action.action == "reopen_account"
    assert action.details == {"closure_id": closure_id, "document_type": "passport"}
    assert record.reopened_by == "agent-0314" and record.reopened_at is not None   # the closure stays on record
    events = [e["data"] for e in await outbox_events(sessions, "resident_reopened") if e["data"]["resident_id"] == rid]
    assert events == [{"resident_id": rid, "closure_id": closure_id, "agent_id": "agent-0314"}]
    async with clients() as uow:
        email = (await uow.residents.get(rid)).email
    assert (await auth.authenticate(auth.Authenticate(email, PASSWORD, "203.0.113.9"), clients())).resident_id == rid

    # Open now: reopening again is refused, plainly.
    code, _, reason = await _error(agent.ReopenResident(request))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NOT_CLOSED"


async def test_bad_input_names_the_field_and_changes_nothing(clients, sessions, stub_for):
    rid, _ = await _closed_resident(clients, sessions)
    agent = await stub_for("acces-montreal-counter", ["identity:agent"], act="agent-0314")
    code, violations, _ = await _error(agent.ReopenResident(pb.ReopenResidentRequest(
        citizen_number="MTL 0000-0000-000X", document_type=pb.DOCUMENT_TYPE_PASSPORT)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "citizen_number" in violations
    code, violations, _ = await _error(agent.ReopenResident(pb.ReopenResidentRequest(
        citizen_number=CitizenNumber(rid).human)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "document_type" in violations
    async with clients() as uow:
        assert (await uow.residents.get(rid)).closed
    async with sessions() as session:
        actions = (await session.execute(select(AgentActionRow).where(AgentActionRow.resident_id == rid))).all()
    assert actions == []
    # An account an operator disabled is not the resident's closure: not the counter's to reopen.
    other = await auth.register_resident(auth.RegisterResident(f"op-{uuid.uuid4().hex[:8]}@example.ca", PASSWORD,
                                                               "fr", ""), clients())
    await auth.disable_resident(auth.DisableResident(other), clients())
    code, _, reason = await _error(agent.ReopenResident(pb.ReopenResidentRequest(
        citizen_number=other, document_type=pb.DOCUMENT_TYPE_PASSPORT)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NOT_CLOSED"
