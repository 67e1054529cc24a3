"""Selective Disclosure for JWTs (RFC 9901), the small layer the carte citoyenne needs, on joserfc.

Why our own layer and not the ``sd-jwt`` package on PyPI (0.10.4, the OpenWallet Foundation's
reference code): it signs through ``jwcrypto`` (a second JOSE library beside joserfc, which
mtlid already uses for every signature) and pulls ``pyyaml`` for its test fixtures; it tracks
the drafts rather than the published RFC. What we need is small: flat disclosable claims,
the ``~``-separated serialization, and Key Binding. ``tests/unit/identity_card/test_sd_jwt.py``
reproduces the RFC's own disclosures and digests.

- Disclosure (RFC 9901 s. 4.2.1): base64url of the JSON array ``[salt, name, value]``.
- Digest (s. 4.2.3): base64url(sha-256(ASCII of the *encoded* Disclosure)), not of its JSON.
- ``_sd`` digests are sorted (s. 4.2.4.1 allows sorting) so their order tells nothing.
- Serialization (s. 4): ``<issuer JWT>~<Disclosure>~...~<KB-JWT>``; without Key Binding the
  string ends with ``~``.
- Key Binding JWT (s. 4.3): ``typ`` ``kb+jwt``, claims ``iat``, ``aud``, ``nonce`` and
  ``sd_hash``, the digest of everything before it (up to and including the last ``~``),
  signed by the key in the issuer JWT's ``cnf.jwk`` (RFC 7800).
- Verification (s. 7.1 and 7.3): every presented Disclosure must be referenced exactly once,
  a claim may not be disclosed twice nor overwrite a plain claim, ``_sd`` and ``...`` are
  reserved; then Key Binding: signature, ``typ``, ``nonce``, ``aud``, freshness of ``iat``,
  ``sd_hash``.

Every refusal is a :class:`PresentationRefused` with a short ``reason`` (``wrong_nonce``,
``tampered_disclosure``...) that the counter shows to the agent and a test can assert.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

SD_ALG = "sha-256"
KB_JWT_TYP = "kb+jwt"
_SIGNING_ALGORITHMS = ["ES256"]
_RESERVED_NAMES = {"_sd", "...", "_sd_alg"}


class PresentationRefused(ValueError):
    """A presentation or credential that a verifier must not accept (RFC 9901 s. 7)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def new_salt() -> str:
    """128 bits of salt, as RFC 9901 s. 9.3 recommends."""
    return b64url(secrets.token_bytes(16))


def digest(encoded: str) -> str:
    """The ``_sd`` digest of an encoded Disclosure or SD-JWT prefix (RFC 9901 s. 4.2.3)."""
    return b64url(hashlib.sha256(encoded.encode("ascii")).digest())


@dataclass(frozen=True)
class Disclosure:
    """One selectively disclosable claim (RFC 9901 s. 4.2.1); ``name`` is None for an array element."""

    salt: str
    name: str | None
    value: Any
    encoded: str

    @property
    def digest(self) -> str:
        return digest(self.encoded)

    @classmethod
    def of(cls, salt: str, name: str | None, value: Any) -> Disclosure:
        parts = [salt, value] if name is None else [salt, name, value]
        # The RFC's examples serialize with ", " separators and UTF-8 kept as is; any JSON is
        # valid (s. 4.2.1), this one reproduces the RFC's vectors byte for byte.
        encoded = b64url(json.dumps(parts, ensure_ascii=False).encode("utf-8"))
        return cls(salt, name, value, encoded)

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        try:
            parts = json.loads(b64url_decode(encoded))
        except (binascii.Error, ValueError, UnicodeError) as exc:
            raise PresentationRefused("tampered_disclosure", "a disclosure is not base64url JSON") from exc
        if not isinstance(parts, list) or len(parts) not in (2, 3) or not isinstance(parts[0], str):
            raise PresentationRefused("tampered_disclosure", "a disclosure is not [salt, name, value]")
        if len(parts) == 2:
            return cls(parts[0], None, parts[1], encoded)
        if not isinstance(parts[1], str) or parts[1] in _RESERVED_NAMES:
            raise PresentationRefused("tampered_disclosure", "a disclosure names a reserved claim")
        return cls(parts[0], parts[1], parts[2], encoded)


def conceal(claims: Mapping[str, Any], disclosable: Iterable[str]) -> tuple[dict[str, Any], list[Disclosure]]:
    """The issuer-signed payload with ``disclosable`` top-level claims replaced by ``_sd`` digests."""
    payload: dict[str, Any] = {}
    disclosures: list[Disclosure] = []
    hidden = set(disclosable)
    for name, value in claims.items():
        if name in hidden:
            disclosures.append(Disclosure.of(new_salt(), name, value))
        else:
            payload[name] = value
    if disclosures:
        payload["_sd"] = sorted(d.digest for d in disclosures)
        payload["_sd_alg"] = SD_ALG
    return payload, disclosures


def issue(
    claims: Mapping[str, Any],
    disclosable: Iterable[str],
    issuer_key: ECKey,
    *,
    kid: str,
    typ: str,
    holder_jwk: Mapping[str, Any] | None = None,
) -> str:
    """An SD-JWT ``<JWT>~<D1>~...~`` (RFC 9901 s. 4), bound to ``holder_jwk`` through ``cnf``."""
    body = dict(claims)
    if holder_jwk is not None:
        body["cnf"] = {"jwk": dict(holder_jwk)}
    payload, disclosures = conceal(body, disclosable)
    token = _sign(issuer_key, {"alg": "ES256", "typ": typ, "kid": kid}, payload)
    return token + "~" + "".join(d.encoded + "~" for d in disclosures)


@dataclass(frozen=True)
class SdJwt:
    """The parts of a serialized SD-JWT or SD-JWT+KB (RFC 9901 s. 4)."""

    issuer_jwt: str
    disclosures: list[str]
    key_binding_jwt: str | None

    @classmethod
    def parse(cls, serialized: str) -> SdJwt:
        parts = serialized.split("~")
        if len(parts) < 2 or not parts[0]:
            raise PresentationRefused("malformed", "not an SD-JWT (<JWT>~...~)")
        kb = parts[-1] or None
        return cls(parts[0], [p for p in parts[1:-1]], kb)

    @property
    def without_key_binding(self) -> str:
        return self.issuer_jwt + "~" + "".join(d + "~" for d in self.disclosures)


def disclosed_names(sd_jwt: str) -> dict[str, str]:
    """The claim name of each Disclosure an SD-JWT carries: what a wallet can choose from."""
    return {Disclosure.parse(d).name or "": d for d in SdJwt.parse(sd_jwt).disclosures}


def present(
    sd_jwt: str,
    claims_to_disclose: Iterable[str],
    holder_key: ECKey,
    *,
    audience: str,
    nonce: str,
    issued_at: int,
) -> str:
    """The holder's presentation: only the chosen Disclosures, then a KB-JWT (RFC 9901 s. 4.3)."""
    wanted = set(claims_to_disclose)
    parsed = SdJwt.parse(sd_jwt)
    kept = [d for d in parsed.disclosures if Disclosure.parse(d).name in wanted]
    prefix = SdJwt(parsed.issuer_jwt, kept, None).without_key_binding
    kb = _sign(
        holder_key,
        {"alg": "ES256", "typ": KB_JWT_TYP},
        {"iat": issued_at, "aud": audience, "nonce": nonce, "sd_hash": digest(prefix)},
    )
    return prefix + kb


@dataclass(frozen=True)
class VerifiedPresentation:
    """What the verifier may rely on: the plain and disclosed claims, and which were disclosed."""

    claims: dict[str, Any]
    disclosed: frozenset[str]
    header: dict[str, Any]


def verify(
    presentation: str,
    issuer_keys: Mapping[str, ECKey],
    *,
    expected_typ: str,
    audience: str,
    nonce: str,
    now: int,
    key_binding_max_age: int = 300,
    leeway: int = 30,
) -> VerifiedPresentation:
    """Checks an SD-JWT+KB in the order of RFC 9901 s. 7.1 then s. 7.3; raises PresentationRefused."""
    parsed = SdJwt.parse(presentation)
    header, payload = _verified(parsed.issuer_jwt, lambda h: issuer_keys.get(h.get("kid", "")), "bad_signature")
    if header.get("typ") != expected_typ:
        raise PresentationRefused("wrong_type", f"typ must be {expected_typ}")
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise PresentationRefused("unsupported_digest", "only sha-256 is accepted")
    claims, disclosed = _disclose(payload, parsed.disclosures)
    if isinstance(claims.get("exp"), int) and now > claims["exp"] + leeway:
        raise PresentationRefused("expired", "the card has expired")
    if isinstance(claims.get("nbf"), int) and now + leeway < claims["nbf"]:
        raise PresentationRefused("not_yet_valid", "the card is not valid yet")
    _check_key_binding(parsed, claims, audience=audience, nonce=nonce, now=now, max_age=key_binding_max_age, leeway=leeway)
    return VerifiedPresentation(claims, frozenset(disclosed), header)


def _check_key_binding(
    parsed: SdJwt, claims: Mapping[str, Any], *, audience: str, nonce: str, now: int, max_age: int, leeway: int
) -> None:
    # RFC 9901 s. 7.3: a verifier that requires Key Binding refuses an SD-JWT without a KB-JWT.
    if parsed.key_binding_jwt is None:
        raise PresentationRefused("key_binding_missing", "the presentation has no key binding JWT")
    holder_jwk = (claims.get("cnf") or {}).get("jwk") if isinstance(claims.get("cnf"), dict) else None
    if not isinstance(holder_jwk, dict):
        raise PresentationRefused("key_binding_missing", "the card names no holder key (cnf.jwk)")
    try:
        holder_key = ECKey.import_key(holder_jwk)
    except (JoseError, ValueError, TypeError) as exc:
        raise PresentationRefused("key_binding_missing", "the holder key is not usable") from exc
    header, kb = _verified(parsed.key_binding_jwt, lambda _h: holder_key, "bad_key_binding")
    if header.get("typ") != KB_JWT_TYP:
        raise PresentationRefused("bad_key_binding", "typ must be kb+jwt")
    if kb.get("nonce") != nonce:
        raise PresentationRefused("wrong_nonce", "the presentation answers another request")
    if kb.get("aud") != audience:
        raise PresentationRefused("wrong_audience", "the presentation was made for another verifier")
    iat = kb.get("iat")
    if not isinstance(iat, int) or iat > now + leeway or iat < now - max_age:
        raise PresentationRefused("stale_key_binding", "the key binding JWT is too old or in the future")
    if kb.get("sd_hash") != digest(parsed.without_key_binding):
        raise PresentationRefused("tampered_disclosure", "sd_hash does not match the presented disclosures")


def _disclose(payload: dict[str, Any], encoded_disclosures: list[str]) -> tuple[dict[str, Any], set[str]]:
    """Replaces referenced digests by their claims (RFC 9901 s. 7.1 step 3), recursively."""
    by_digest: dict[str, Disclosure] = {}
    for encoded in encoded_disclosures:
        d = Disclosure.parse(encoded)
        if d.digest in by_digest:
            raise PresentationRefused("tampered_disclosure", "a disclosure is presented twice")
        by_digest[d.digest] = d
    used: set[str] = set()
    disclosed: set[str] = set()

    def take(digest_value: Any) -> Disclosure | None:
        if not isinstance(digest_value, str):
            raise PresentationRefused("tampered_disclosure", "a digest is not a string")
        if digest_value in used:
            raise PresentationRefused("tampered_disclosure", "a digest is referenced twice")
        d = by_digest.get(digest_value)
        if d is not None:
            used.add(digest_value)
        return d

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k not in ("_sd", "_sd_alg")}
            for digest_value in node.get("_sd", []) if isinstance(node.get("_sd"), list) else []:
                d = take(digest_value)
                if d is None:
                    continue  # undisclosed (or a decoy): stays hidden
                if d.name is None:
                    raise PresentationRefused("tampered_disclosure", "an array element disclosure in _sd")
                if d.name in out:
                    raise PresentationRefused("tampered_disclosure", f"claim {d.name} disclosed twice")
                out[d.name] = walk(d.value)
                disclosed.add(d.name)
            return out
        if isinstance(node, list):
            items = []
            for item in node:
                if isinstance(item, dict) and set(item) == {"..."}:
                    d = take(item["..."])
                    if d is None:
                        continue
                    if d.name is not None:
                        raise PresentationRefused("tampered_disclosure", "an object disclosure in an array")
                    items.append(walk(d.value))
                else:
                    items.append(walk(item))
            return items
        return node

    claims = walk(payload)
    # RFC 9901 s. 7.1 step 3.e: a Disclosure that no digest references is refused, which is
    # also what a disclosure whose bytes were altered looks like.
    if set(by_digest) - used:
        raise PresentationRefused("tampered_disclosure", "a disclosure matches no digest of the card")
    return claims, disclosed


def _sign(key: ECKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, body, key, algorithms=_SIGNING_ALGORITHMS)


def _verified(token: str, key_for: Any, reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = json.loads(b64url_decode(token.split(".")[0]))
    except (binascii.Error, ValueError, UnicodeError, IndexError) as exc:
        raise PresentationRefused("malformed", "a JWT header is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") not in _SIGNING_ALGORITHMS:
        raise PresentationRefused(reason, "the signature algorithm is not ES256")
    key = key_for(header)
    if key is None:
        raise PresentationRefused("unknown_key", "signed by a key the verifier does not hold")
    try:
        obj = jws.deserialize_compact(token, key, algorithms=_SIGNING_ALGORITHMS)
        payload = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise PresentationRefused(reason, "the signature does not verify") from exc
    if not isinstance(payload, dict):
        raise PresentationRefused("malformed", "a JWT payload is not an object")
    return header, payload
