"""The signature over a resident's complete file (issue 18: every section signed).

Identity assembles the file and signs all of it, section by section, in one JWS (RFC 7515,
compact serialization, ES256 of RFC 7518 s. 3.4) with its current OpenID signing key — the
key published at ``<issuer>/jwks``. Identity received the accounts and consent sections from
those services over their authenticated gRPC channels; its signature says "this is what the
platform held for this resident on that day", and the consent sections are proven a second
time, by the ledger's own keys (receipts, inclusion proofs, tree head).

Why one signature over digests rather than a JWS per section: a verifier names the changed
section (each section has its own digest), the file stays one readable JSON document (the
sections are not hidden inside base64 payloads), and a section added by another part of the
platform (``service_layer/resident_file.SECTIONS``) is signed without any change here.

The file's ``signature`` member::

    {"alg": "ES256", "kid": "...", "issuer": "https://…", "keys": {JWK Set},
     "jws": "<header>.<payload>.<signature>"}

The JWS payload: ``{"iss", "sub" (the citizen number), "iat", "typ": "mtlid-resident-file",
"digest": "sha-256", "sections": {name: hex digest}, "keys": hex digest of the file's key
set}``. A section's digest is SHA-256 of its
value serialized as JSON with members sorted by key, no whitespace, UTF-8 (non-ASCII not
escaped) — Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``; for the file's values (strings, integers, booleans, null, no floats)
that is RFC 8785. Every top-level member except ``signature`` is a signed section.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

FILE_TYPE = "mtlid-resident-file"
SIGNATURE = "signature"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_strict(segment: str) -> bytes:
    """RFC 7515 s. 2 base64url, refused unless canonical: a lenient decoder drops characters
    outside the alphabet and ignores a last character's unused bits, so a changed character of
    the JWS could decode to the same bytes (and a changed file still verify)."""
    raw = _b64url_decode(segment)
    if _b64url(raw) != segment:
        raise ValueError("not canonical base64url")
    return raw


def section_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def section_digest(value: Any) -> str:
    return hashlib.sha256(section_bytes(value)).hexdigest()


def sign_file(document: dict, *, issuer: str, kid: str, private_key: ec.EllipticCurvePrivateKey,
              jwks: dict, now: int | None = None) -> dict:
    """The ``signature`` member for ``document`` (every member but ``signature`` itself)."""
    payload = {"iss": issuer, "sub": (document.get("resident") or {}).get("citizen_number"),
               "iat": int(time.time()) if now is None else now, "typ": FILE_TYPE, "digest": "sha-256",
               "sections": {name: section_digest(value) for name, value in document.items() if name != SIGNATURE},
               # the key set the file carries is signed too: no byte of the file is unsigned
               "keys": section_digest(jwks)}
    header = {"alg": "ES256", "kid": kid, "typ": FILE_TYPE}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64url(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")))
    r, s = decode_dss_signature(private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    jws = signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return {"alg": "ES256", "kid": kid, "issuer": issuer, "keys": jwks, "jws": jws}


def _public_key(jwk: dict) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not a P-256 key")
    x, y = (int.from_bytes(_b64url_decode(jwk[c]), "big") for c in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def verify_file_signature(document: dict, pinned_jwks: dict | None = None) -> tuple[bool, list[str], dict]:
    """``(ok, problems, report)``: the JWS verifies with the key it names (from ``pinned_jwks``
    when given — the keys published at ``<issuer>/jwks`` — else from the file), and every
    section's digest matches; each changed, added or missing section is named."""
    problems: list[str] = []
    block = document.get(SIGNATURE)
    if not isinstance(block, dict) or not isinstance(block.get("jws"), str):
        return False, ["signature: the file carries no signature"], {}
    try:
        header_b64, payload_b64, signature_b64 = block["jws"].split(".")
        header = json.loads(_b64url_strict(header_b64))
        payload = json.loads(_b64url_strict(payload_b64))
        raw = _b64url_strict(signature_b64)
    except (ValueError, TypeError):
        return False, ["signature: the JWS is not readable"], {}
    if header.get("alg") != "ES256" or header.get("typ") != FILE_TYPE or len(raw) != 64:
        return False, ["signature: not an ES256 signature of a resident's file"], {}
    keys = (pinned_jwks if pinned_jwks is not None else block.get("keys")) or {}
    jwk = next((k for k in keys.get("keys", []) if isinstance(k, dict) and k.get("kid") == header.get("kid")), None)
    if jwk is None:
        where = "the keys given" if pinned_jwks is not None else "the file's keys"
        return False, [f"signature: key {header.get('kid')} is not among {where}"], {}
    try:
        _public_key(jwk).verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                                f"{header_b64}.{payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, KeyError, UnicodeError):
        return False, ["signature: does not verify (the signature itself was changed, or another key made it)"], {}
    signed = payload.get("sections") if isinstance(payload, dict) else None
    if not isinstance(signed, dict):
        return False, ["signature: names no sections"], {}
    # the signature member's own readable fields say what the JWS says (they are not signed
    # twice: a reader of the JSON must not be told another key or issuer than the one that signed)
    if (block.get("alg"), block.get("kid"), block.get("issuer")) != (header.get("alg"), header.get("kid"),
                                                                     payload.get("iss")):
        problems.append("signature: its alg, kid or issuer differ from the signed ones")
    # (files signed before the key set was: their keys are checked only through the pinned set)
    if "keys" in payload and section_digest(block.get("keys")) != payload["keys"]:
        problems.append("signature: the key set in the file was changed since it was signed")
    for name, value in document.items():
        if name == SIGNATURE:
            continue
        if name not in signed:
            problems.append(f"section {name}: not signed (added after the file was signed)")
        elif section_digest(value) != signed[name]:
            problems.append(f"section {name}: changed since the file was signed")
    for name in signed:
        if name not in document:
            problems.append(f"section {name}: signed but missing from the file")
    if payload.get("sub") != (document.get("resident") or {}).get("citizen_number"):
        problems.append("signature: signed for another resident")
    return not problems, problems, {"kid": header.get("kid"), "issuer": payload.get("iss"), "signed_at": payload.get("iat"),
                                    "sections": len(signed), "pinned": pinned_jwks is not None}
