"""ValidateToken's core: RFC 9068 access tokens, anything doubtful is simply inactive."""

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from services.identity.service_layer.tokens import validate_access_token

ISSUER = "http://identity.test"
KEY = ECKey.generate_key("P-256", private=True)
KID = KEY.thumbprint()


class Keys:
    def public_key(self, kid):
        return KEY if kid == KID else None


def _token(header=None, key=KEY, **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "montreal-library", "client_id": "montreal-library", "aud": "urn:mtlid:accounts",
            "scope": "openid resident", "iat": now, "exp": now + 60, "jti": "j-1", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": KID, **(header or {})}, body, key)


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


async def test_a_good_token_is_active_with_its_claims():
    info = await validate_access_token(_token(acr="urn:mtlid:loa:2", act={"sub": "agent-7"}), Keys(), ISSUER)
    assert info.active and info.client_id == "montreal-library" and info.scopes == ("openid", "resident")
    assert info.audiences == ("urn:mtlid:accounts",) and info.acr == "urn:mtlid:loa:2"
    assert info.acting_for == "agent-7" and info.token_id == "j-1"


@pytest.mark.parametrize("token", [
    _token(header={"typ": "JWT"}),                      # an ID token is not an access token
    _token(iss="http://elsewhere"),
    _token(exp=int(time.time()) - 1),
    _token(iat=int(time.time()) + 3600),
    _token(jti=None), _token(client_id=None), _token(sub=""),
    _token(key=ECKey.generate_key("P-256", private=True)),
    "", "a.b.c", "not a token",
])
async def test_doubtful_tokens_are_inactive(token):
    assert not (await validate_access_token(token, Keys(), ISSUER)).active


async def test_alg_none_and_hmac_confusion_are_refused():
    body = _b64({"iss": ISSUER, "sub": "x", "client_id": "x", "iat": 0, "exp": 2 ** 40, "jti": "j"})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': KID})}.{body}."
    assert not (await validate_access_token(unsigned, Keys(), ISSUER)).active
    # HS256 "signed" with the public key as the secret: the classic confusion attack.
    secret = OctKey.import_key(json.dumps(KEY.as_dict(private=False)).encode())
    hmac_token = jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": KID},
                            {"iss": ISSUER, "sub": "x", "client_id": "x", "iat": int(time.time()),
                             "exp": int(time.time()) + 60, "jti": "j"}, secret)
    assert not (await validate_access_token(hmac_token, Keys(), ISSUER)).active


async def test_revoked_tokens_are_inactive():
    async def revoked(jti, session_id=None):
        return jti == "j-1"

    assert not (await validate_access_token(_token(), Keys(), ISSUER, is_revoked=revoked)).active
    assert (await validate_access_token(_token(jti="j-2"), Keys(), ISSUER, is_revoked=revoked)).active


async def test_a_batch_asks_once_about_the_revocation_of_the_tokens_that_passed_every_other_check():
    """ValidateTokens' core (issue 24): one revocation read for the batch, holding each
    distinct token that is otherwise active — with its bound session (none for
    offline_access) — and every answer the one the single validation gives."""
    from services.identity.service_layer.tokens import validate_access_tokens

    asked: list[list] = []

    async def are_revoked(pairs):
        asked.append(list(pairs))
        return [jti == "j-gone" or sid == "s-ended" for jti, sid in pairs]

    async def is_revoked(jti, sid=None):
        return jti == "j-gone" or sid == "s-ended"

    good = _token(jti="j-ok")
    batch = [good, _token(jti="j-gone"), _token(iss="http://elsewhere", jti="j-other"), good,
             _token(jti="j-s", sid="s-ended"), _token(jti="j-off", sid="s-ended", scope="openid offline_access"), ""]
    infos = await validate_access_tokens(batch, Keys(), ISSUER, are_revoked=are_revoked)
    assert [i.active for i in infos] == [True, False, False, True, False, True, False]
    assert asked == [[("j-ok", None), ("j-gone", None), ("j-s", "s-ended"), ("j-off", None)]]
    assert infos == [await validate_access_token(t, Keys(), ISSUER, is_revoked=is_revoked) for t in batch]
    assert infos == await validate_access_tokens(batch, Keys(), ISSUER, is_revoked=is_revoked)
