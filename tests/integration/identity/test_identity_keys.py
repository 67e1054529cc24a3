"""Signing keys: created once, encrypted at rest, rotation publishes the next key before it
signs and keeps retired keys until their tokens have expired (OIDC Core 10.1.1)."""

from __future__ import annotations

import datetime as dt

import pytest
from joserfc import jwt
from sqlalchemy import select

from services.common.errors import FailedPrecondition
from services.identity.adapters import crypto
from services.identity.adapters.orm import SigningKeyRow
from services.identity.domain.keys import CLOCK_SKEW, SIGNED_TOKEN_MAX_LIFETIME
from services.identity.service_layer.keys import SigningKeys, rotate_keys
from tests.integration.identity.conftest import KEK, outbox_events


async def test_keys_created_once_encrypted_and_rotated_in_order(uow_factory, sessions):
    keys = await SigningKeys.load(uow_factory(), KEK)
    again = await SigningKeys.load(uow_factory(), KEK)  # a second replica: no new keys
    assert keys.jwks() == again.jwks()
    published = {k["kid"]: k for k in keys.jwks()["keys"]}
    assert len(published) == 4  # ES256 and RS256, each current + next
    assert all("d" not in k and k["use"] == "sig" for k in published.values())
    es_kid, es_key = keys.current("ES256")
    rs_kid, _ = keys.current("RS256")
    assert es_kid in published and rs_kid in published
    next_es = next(s["kid"] for s in keys.states() if s["alg"] == "ES256" and s["state"] == "next")
    assert next_es in published  # published before it ever signs

    async with sessions() as session:
        rows = (await session.execute(select(SigningKeyRow))).scalars().all()
    for row in rows:
        assert b'"d"' not in row.private_key_encrypted
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt(bytes(32), row.private_key_encrypted, row.kid.encode())

    token = jwt.encode({"alg": "ES256", "kid": es_kid}, {"sub": "x"}, es_key)

    # Rotating right away would sign with a key caches may not hold yet.
    with pytest.raises(FailedPrecondition) as refused:
        await rotate_keys(uow_factory(), KEK)
    assert refused.value.reason == "NEXT_KEY_TOO_RECENT"

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=11)
    result = await rotate_keys(uow_factory(), KEK, now=later)
    es = next(r for r in result if r["alg"] == "ES256")
    assert es["current"] == next_es and es["retired"] == es_kid
    await keys.reload(uow_factory())
    assert keys.current("ES256")[0] == next_es
    kids = {k["kid"] for k in keys.jwks()["keys"]}
    assert es_kid in kids and es["next"] in kids  # retired still published; new next already
    # A token signed by the retired key still verifies during its lifetime.
    assert jwt.decode(token, keys.public_key(es_kid)).claims == {"sub": "x"}
    states = {s["kid"]: s for s in keys.states()}
    assert dt.datetime.fromisoformat(states[es_kid]["not_after"]) == later + SIGNED_TOKEN_MAX_LIFETIME + CLOCK_SKEW
    assert {e["data"]["kid"] for e in await outbox_events(sessions, "key_rotated")} >= {next_es}

    # After not_after, the retired key is gone (from the JWKS and the table).
    much_later = later + dt.timedelta(hours=2)
    await rotate_keys(uow_factory(), KEK, now=much_later)
    await keys.reload(uow_factory())
    assert es_kid not in {k["kid"] for k in keys.jwks()["keys"]}
    assert keys.public_key(es_kid) is None
