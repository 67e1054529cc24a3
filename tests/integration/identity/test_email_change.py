"""Changing the sign-in address at the service layer (``service_layer.email_change``): what
the pages cannot easily reach — an expired code, an address taken between the two steps,
wrong codes counted with the other mailed codes — on a real database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.identity.adapters.orm import ResidentRow
from services.identity.service_layer import authentication as auth
from services.identity.service_layer import email_change as change

from .conftest import outbox_events

PASSWORD = "une phrase de passe solide"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.ca"


async def _resident(uow_factory, email: str) -> str:
    password_hash = await auth.hashing.run(auth.passwords.hash_password, PASSWORD)
    async with uow_factory() as uow:
        resident = await auth.add_new_resident(uow, email=email, password_hash=password_hash, preferred_language="fr",
                                               now=dt.datetime.now(dt.timezone.utc), email_verified=True)
        await uow.commit()
    return resident.resident_id


async def _code(sessions, resident_id: str) -> str:
    return [e["data"]["code"] for e in await outbox_events(sessions, "email_change_requested")
            if e["data"]["resident_id"] == resident_id][-1]


async def test_an_expired_code_changes_nothing(uow_factory, sessions):
    old, new = _email("expire"), _email("nouvelle")
    rid = await _resident(uow_factory, old)
    await change.request_email_change(change.RequestEmailChange(rid, new, PASSWORD), uow_factory())
    code = await _code(sessions, rid)
    async with sessions() as session:
        await session.execute(update(ResidentRow).where(ResidentRow.resident_id == rid).values(
            pending_email_expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        await session.commit()
    with pytest.raises(FailedPrecondition) as expired:
        await change.confirm_email_change(change.ConfirmEmailChange(rid, code), uow_factory())
    assert expired.value.reason == "CODE_EXPIRED"
    async with uow_factory() as uow:
        assert (await uow.residents.get(rid)).email == old
    assert await change.pending_email_change(uow_factory(), rid) is None


async def test_an_address_taken_between_the_two_steps_is_refused(uow_factory, sessions):
    old, new = _email("course"), _email("prise")
    rid = await _resident(uow_factory, old)
    await change.request_email_change(change.RequestEmailChange(rid, new, PASSWORD), uow_factory())
    code = await _code(sessions, rid)
    await _resident(uow_factory, new)  # someone else signs up with it meanwhile
    with pytest.raises(AlreadyExists):
        await change.confirm_email_change(change.ConfirmEmailChange(rid, code), uow_factory())
    async with uow_factory() as uow:
        resident = await uow.residents.get(rid)
    assert resident.email == old and resident.pending_email is None


async def test_wrong_codes_are_throttled_and_a_code_without_a_request_is_refused(uow_factory, sessions):
    rid = await _resident(uow_factory, _email("devine"))
    with pytest.raises(FailedPrecondition) as nothing:
        await change.confirm_email_change(change.ConfirmEmailChange(rid, "123456"), uow_factory())
    assert nothing.value.reason == "NO_PENDING_CHANGE"
    await change.request_email_change(change.RequestEmailChange(rid, _email("cible"), PASSWORD), uow_factory())
    code = await _code(sessions, rid)
    wrong = "000000" if code != "000000" else "111111"
    refusals = []
    for _ in range(8):
        try:
            await change.confirm_email_change(change.ConfirmEmailChange(rid, wrong), uow_factory())
        except (InvalidArgument, FailedPrecondition) as error:
            refusals.append(getattr(error, "reason", "WRONG"))
    assert "TOO_MANY_ATTEMPTS" in refusals  # a 6-digit code does not fall to guessing
    with pytest.raises(FailedPrecondition):  # even the right code waits now
        await change.confirm_email_change(change.ConfirmEmailChange(rid, code), uow_factory())
