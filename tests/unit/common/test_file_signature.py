"""Issue 18: no byte of a resident's file is outside identity's signature. Every single-bit
change of a signed file — in a section, in the signature member's readable fields, in the key
set it carries, in the JWS — either makes the file unreadable or fails the check, with the
file's own keys and with the published (pinned) ones."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec

from services.common.file_signature import _b64url, sign_file, verify_file_signature


def _jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))}


def _signed_file() -> tuple[bytes, dict]:
    current, next_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [_jwk(current, "k-current"), _jwk(next_key, "k-next")]}
    document = {"format": "mtlid-resident-export/3", "resident": {"citizen_number": "ABCD2345EFGH", "level": 2},
                "sign_ins": {"attempts": [{"service": "Permis en ligne", "outcome": "succeeded"}]},
                "consent": {"consents": [{"purpose_id": "communication", "state": "withdrawn"}]}}
    document["signature"] = sign_file(document, issuer="https://id.montreal.example", kid="k-current",
                                      private_key=current, jwks=jwks, now=1_765_000_000)
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"), jwks


def test_every_flipped_bit_of_the_file_is_refused():
    raw, jwks = _signed_file()
    assert verify_file_signature(json.loads(raw))[0] and verify_file_signature(json.loads(raw), jwks)[0]
    accepted = []
    for where in range(len(raw)):
        for bit in (0x01, 0x02, 0x20):
            copy = bytearray(raw)
            copy[where] ^= bit
            try:
                document = json.loads(bytes(copy).decode("utf-8"))
            except ValueError:
                continue  # not JSON any more
            if not isinstance(document, dict):
                continue
            if verify_file_signature(document)[0] or verify_file_signature(document, jwks)[0]:
                accepted.append((where, bit, raw[max(0, where - 30):where + 10]))
    assert not accepted, accepted[:5]


def test_the_signature_members_readable_fields_and_key_set_are_named_when_changed():
    raw, jwks = _signed_file()
    document = json.loads(raw)
    document["signature"]["issuer"] = "https://ailleurs.example"
    ok, problems, _ = verify_file_signature(document, jwks)
    assert not ok and problems == ["signature: its alg, kid or issuer differ from the signed ones"]
    document = json.loads(raw)
    document["signature"]["keys"]["keys"][1]["x"] = document["signature"]["keys"]["keys"][0]["x"]
    ok, problems, _ = verify_file_signature(document)
    assert not ok and problems == ["signature: the key set in the file was changed since it was signed"]
