"""The login path's point reads (issue 24, ``adapters/hot_reads.py``) answer exactly what the
unit of work's repositories answer: the authorization endpoint, the login pages and the
consent screen now read the client, the session, its resident and their grant through them,
outside any transaction. On SQLite and on PostgreSQL (``MTLID_TEST_DATABASE=postgres``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from services.common.db import create_engine, session_factory
from services.common.migrations import migrate_async
from services.common.reads import PointReads
from services.common.testing.databases import temporary_database
from services.identity.adapters.hot_reads import IdentityHotReads
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient, hash_client_secret
from services.identity.oidc.provider import UnitOfWorkReads
from services.identity.oidc.records import Grant
from services.identity.oidc.sessions import open_session
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident

KEK = b"k" * 32
NOW = dt.datetime.now(dt.timezone.utc)
CONFIG = OidcConfig(issuer="http://127.0.0.1:9", pairwise_secret=b"p" * 32, interaction_key=b"i" * 32)

EVERY_FIELD = OAuthClient(
    client_id="permis", name="Permis et licences", secret_hash=hash_client_secret("s" * 40),
    redirect_uris=("https://permis.example.ca/cb",), post_logout_redirect_uris=("https://permis.example.ca/bye",),
    grant_types=("authorization_code", "refresh_token"), scopes=("openid", "email"), audiences=("urn:x",),
    subject_type="public", sector_identifier="https://permis.example.ca", id_token_signed_response_alg="RS256",
    token_endpoint_auth_method="private_key_jwt", is_city_client=True, purposes=("service-provision",),
    backchannel_logout_uri="https://permis.example.ca/bcl", frontchannel_logout_uri="https://permis.example.ca/fcl",
    jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB"}]},
    require_pushed_authorization_requests=True, staff_directory_issuer="https://annuaire.example.ca",
    staff_directory_jwks={"keys": []}, staff_directory_jwks_uri="https://annuaire.example.ca/jwks",
    dpop_bound_access_tokens=True, accepts_mandates=True, created_at=NOW)


@pytest.fixture
async def identity():
    async with temporary_database("sign_in_reads") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        reads = PointReads(engine)
        try:
            yield (lambda: OAuthUnitOfWork(sessions, kek=KEK)), IdentityHotReads(reads), engine
        finally:
            await reads.aclose()
            await engine.dispose()


async def _resident(uow_factory, email: str) -> str:
    async with uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=None, preferred_language="fr",
                                          now=NOW, email_verified=True)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    return resident.resident_id


async def _session(uow_factory, resident_id: str) -> str:
    async with uow_factory() as uow:
        _session, secret = await open_session(uow, CONFIG, resident_id, int(LevelOfAssurance.VERIFIED), ("pwd",))
        await uow.commit()
    return secret


async def _grant(uow_factory, resident_id: str, client_id: str, scopes: tuple[str, ...], at: dt.datetime) -> None:
    async with uow_factory() as uow:
        await uow.grants.add(Grant(grant_id=f"g-{at.timestamp()}", resident_id=resident_id, client_id=client_id,
                                   scopes=scopes, purposes_accepted=("service-provision",), purposes_refused=(),
                                   created_at=at, scopes_refused=("profile",),
                                   purpose_categories={"service-provision": ("email",)}))
        await uow.commit()


async def test_the_client_is_the_one_the_repository_returns(identity):
    uow_factory, hot, _engine = identity
    async with uow_factory() as uow:
        await uow.clients.add(EVERY_FIELD)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.clients.get("permis")
    read = await hot.client("permis")
    assert read == stored                                   # every field but created_at
    assert abs((read.created_at - stored.created_at).total_seconds()) < 0.001
    assert read.accepts_mandates and read.require_pushed_authorization_requests
    assert await hot.client("inconnu") is None


async def test_the_sign_in_state_is_the_one_the_unit_of_work_reads(identity):
    uow_factory, hot, engine = identity
    by_uow = UnitOfWorkReads(uow_factory)
    async with uow_factory() as uow:
        await uow.clients.add(EVERY_FIELD)
        await uow.commit()
    alice = await _resident(uow_factory, "alice@example.org")
    bob = await _resident(uow_factory, "bob@example.org")
    await _grant(uow_factory, alice, "permis", ("openid",), NOW - dt.timedelta(minutes=5))
    await _grant(uow_factory, alice, "permis", ("openid", "email"), NOW - dt.timedelta(minutes=1))  # replaces it
    alice_secret, bob_secret = await _session(uow_factory, alice), await _session(uow_factory, bob)
    async with engine.begin() as connection:    # Bob has a passkey and a second factor
        await connection.execute(text(
            "INSERT INTO passkeys (credential_id, owner_kind, owner_id, public_key, sign_count, multi_device,"
            " transports, name, created_at) VALUES ('cred-1', 'resident', :owner, :key, 0, :md, '[]', 'clé', :at)"),
            {"owner": bob, "key": b"\x01", "md": False, "at": NOW})
        await connection.execute(text("UPDATE residents SET totp_secret_encrypted = :s WHERE resident_id = :r"),
                                 {"s": b"\x02", "r": bob})

    async def both(secret, client_id="permis", **kw):
        now = dt.datetime.now(dt.timezone.utc)
        fast, slow = await hot.sign_in_state(secret, client_id, now, **kw), await by_uow.sign_in_state(
            secret, client_id, now, **kw)
        assert fast == slow
        return fast

    state = await both(alice_secret)
    assert state.session.resident_id == alice and state.session.amr == ("pwd",)
    assert state.resident.level == int(LevelOfAssurance.VERIFIED)
    assert not state.resident.has_totp and not state.resident.has_passkey and not state.resident.disabled
    assert state.grant.scopes == ("openid", "email") and state.grant.scopes_refused == ("profile",)
    assert state.grant.purpose_categories == {"service-provision": ("email",)}
    assert (await both(alice_secret, with_grant=False)).grant is None
    assert (await both(alice_secret, "autre")).grant is None

    state = await both(bob_secret)
    assert state.resident.has_totp and state.resident.has_passkey and state.grant is None

    for nobody in (None, "", "x" * 201, "not-a-session"):
        state = await both(nobody)
        assert state.session is None and state.resident is None and state.grant is None

    # a session that ended, one that expired, and a resident disabled since
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE sso_sessions SET ended_at = :at WHERE resident_id = :r"),
                                 {"at": NOW, "r": alice})
        await connection.execute(text("UPDATE sso_sessions SET expires_at = :at WHERE resident_id = :r"),
                                 {"at": NOW - dt.timedelta(seconds=1), "r": bob})
    assert (await both(alice_secret)).session is None
    assert (await both(bob_secret)).session is None
    carol = await _resident(uow_factory, "carol@example.org")
    carol_secret = await _session(uow_factory, carol)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE residents SET disabled = :d WHERE resident_id = :r"),
                                 {"d": True, "r": carol})
    assert (await both(carol_secret)).resident.disabled is True
