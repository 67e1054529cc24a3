"""A forgotten password, and the first password of a resident enrolled at a counter: a code
mailed to the address (``password_reset_requested``, for the mail sender only), then a new
password. The request reveals nothing about which addresses have an account."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.service_layer import authentication as auth

from .conftest import KEK, outbox_events, request_reset

PASSWORD = "une phrase de passe solide"
NEW_PASSWORD = "une toute nouvelle phrase"


def _email() -> str:
    return f"oubli-{uuid.uuid4().hex[:10]}@example.ca"


@pytest.fixture
def oauth_uow(sessions):
    return lambda: OAuthUnitOfWork(sessions, kek=KEK)


async def _codes(sessions, resident_id: str) -> list[str]:
    return [e["data"]["code"] for e in await outbox_events(sessions, "password_reset_requested")
            if e["data"]["resident_id"] == resident_id]


async def _resident(uow_factory, email: str, password: str | None = PASSWORD, verified: bool = True) -> str:
    password_hash = await auth.hashing.run(auth.passwords.hash_password, password) if password else None
    async with uow_factory() as uow:
        resident = await auth.add_new_resident(uow, email=email, password_hash=password_hash, preferred_language="fr",
                                               now=dt.datetime.now(dt.timezone.utc), email_verified=verified)
        await uow.commit()
    return resident.resident_id


async def test_a_forgotten_password_is_replaced_with_the_mailed_code(uow_factory, oauth_uow, sessions):
    email = _email()
    rid = await _resident(uow_factory, email)
    await request_reset(auth.RequestPasswordReset(email.upper(), "198.51.100.40"), uow_factory)
    [code] = await _codes(sessions, rid)
    with pytest.raises(InvalidArgument) as wrong:
        await auth.reset_password(auth.ResetPassword(email, "000000" if code != "000000" else "111111",
                                                     NEW_PASSWORD), oauth_uow())
    assert wrong.value.violations[0][0] == "code"
    assert await auth.reset_password(auth.ResetPassword(email, code, NEW_PASSWORD), oauth_uow()) == rid
    assert (await auth.authenticate(auth.Authenticate(email, NEW_PASSWORD, "198.51.100.41"), uow_factory())).resident_id == rid
    with pytest.raises(auth.LoginRefused):
        await auth.authenticate(auth.Authenticate(email, PASSWORD, "198.51.100.41"), uow_factory())
    # The code is spent.
    with pytest.raises((InvalidArgument, FailedPrecondition)):
        await auth.reset_password(auth.ResetPassword(email, code, "encore une autre phrase"), oauth_uow())


async def test_asking_for_an_address_without_an_account_looks_the_same_and_sends_nothing(uow_factory, oauth_uow,
                                                                                          sessions):
    before = len(await outbox_events(sessions, "password_reset_requested"))
    await request_reset(auth.RequestPasswordReset(_email(), "198.51.100.42"), uow_factory)
    await request_reset(auth.RequestPasswordReset("pas une adresse", "198.51.100.42"), uow_factory)
    assert len(await outbox_events(sessions, "password_reset_requested")) == before
    # …and a code for an address nobody uses is refused like a wrong code.
    with pytest.raises(InvalidArgument) as refused:
        await auth.reset_password(auth.ResetPassword(_email(), "123456", NEW_PASSWORD), oauth_uow())
    assert refused.value.violations[0][0] == "code"


async def test_a_resident_enrolled_at_a_counter_chooses_a_first_password(uow_factory, oauth_uow, sessions):
    email = _email()
    rid = await _resident(uow_factory, email, password=None, verified=False)
    with pytest.raises(auth.LoginRefused):
        await auth.authenticate(auth.Authenticate(email, "", "198.51.100.43"), uow_factory())
    await request_reset(auth.RequestPasswordReset(email, "198.51.100.43"), uow_factory)
    [code] = await _codes(sessions, rid)
    await auth.reset_password(auth.ResetPassword(email, code, NEW_PASSWORD), oauth_uow())
    signed_in = await auth.authenticate(auth.Authenticate(email, NEW_PASSWORD, "198.51.100.43"), uow_factory())
    assert signed_in.resident_id == rid and signed_in.email_verified  # the code proved the mailbox
    assert any(e["data"] == {"resident_id": rid} for e in await outbox_events(sessions, "email_verified"))


async def test_requests_are_spaced_out_per_account_and_per_address(uow_factory, sessions):
    email = _email()
    rid = await _resident(uow_factory, email)
    for i in range(5):
        await request_reset(auth.RequestPasswordReset(email, f"198.51.100.{50 + i}"), uow_factory)
    assert len(await _codes(sessions, rid)) == auth.RESEND_POLICY.free_failures  # the rest were not sent
    address = "198.51.100.60"
    for _ in range(auth.RESET_POLICY.free_failures):
        await request_reset(auth.RequestPasswordReset(_email(), address), uow_factory)
    with pytest.raises(FailedPrecondition) as waiting:
        await request_reset(auth.RequestPasswordReset(_email(), address), uow_factory)
    assert waiting.value.reason == "TOO_MANY_ATTEMPTS"


async def test_wrong_codes_are_throttled(uow_factory, oauth_uow, sessions):
    email = _email()
    rid = await _resident(uow_factory, email)
    await request_reset(auth.RequestPasswordReset(email, "198.51.100.70"), uow_factory)
    [code] = await _codes(sessions, rid)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(FailedPrecondition) as waiting:
        for _ in range(20):
            with pytest.raises(InvalidArgument):
                await auth.reset_password(auth.ResetPassword(email, wrong, NEW_PASSWORD), oauth_uow())
    assert waiting.value.reason == "TOO_MANY_ATTEMPTS"
    # Even the right code waits now.
    with pytest.raises(FailedPrecondition):
        await auth.reset_password(auth.ResetPassword(email, code, NEW_PASSWORD), oauth_uow())


async def test_the_reset_event_carries_the_code_for_the_mail_sender_only(uow_factory, sessions):
    email = _email()
    rid = await _resident(uow_factory, email)
    await request_reset(auth.RequestPasswordReset(email, "198.51.100.80"), uow_factory)
    [event] = [e for e in await outbox_events(sessions, "password_reset_requested") if e["data"]["resident_id"] == rid]
    assert event["type"] == "montreal.identity.v1.password_reset_requested"
    # The language the resident chose: the mail sender writes in it (French first otherwise).
    assert set(event["data"]) == {"resident_id", "email", "code", "expires_at", "language"}
    assert event["data"]["language"] == "fr"
    async with uow_factory() as uow:
        stored = await uow.residents.get(rid)
    assert stored.email_code_hash != event["data"]["code"]  # only its hash is kept
