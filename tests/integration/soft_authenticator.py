"""A WebAuthn authenticator in software, for the integration tests: it makes the same
``PublicKeyCredential`` JSON a browser sends (WebAuthn L3 ``toJSON()``), with an ES256 key,
``none`` attestation, and a signature counter, and it can be told to lie (another origin,
another RP ID, a forged signature, a counter that goes back). The browser test uses
Chromium's own virtual authenticator instead."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, origin: str, *, synced: bool = False, user_verifying: bool = True) -> None:
        self.origin = origin
        self.rp_id = origin.split("://", 1)[1].split(":")[0]
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.user_handle = b""
        self.sign_count = 0
        self.synced = synced
        self.user_verifying = user_verifying

    def _flags(self) -> int:
        flags = UP | (UV if self.user_verifying else 0)
        return flags | (BE | BS if self.synced else 0)

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def create(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None,
               challenge: str | None = None) -> str:
        options = json.loads(options_json)
        self.user_handle = unb64(options["user"]["id"])
        client_data = json.dumps({"type": "webauthn.create", "challenge": challenge or options["challenge"],
                                  "origin": origin or self.origin, "crossOrigin": False}).encode()
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose()
        auth_data = (hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest()
                     + bytes([self._flags() | AT]) + self.sign_count.to_bytes(4, "big") + attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                           "response": {"clientDataJSON": b64(client_data), "attestationObject": b64(attestation),
                                        "transports": ["internal"]},
                           "clientExtensionResults": {}, "authenticatorAttachment": "platform"})

    def get(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None,
            challenge: str | None = None, sign_count: int | None = None, forge: bool = False) -> str:
        options = json.loads(options_json)
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = json.dumps({"type": "webauthn.get", "challenge": challenge or options["challenge"],
                                  "origin": origin or self.origin, "crossOrigin": False}).encode()
        auth_data = (hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
                     + bytes([self._flags()]) + self.sign_count.to_bytes(4, "big"))
        signer = ec.generate_private_key(ec.SECP256R1()) if forge else self.key
        signature = signer.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                           "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                                        "signature": b64(signature), "userHandle": b64(self.user_handle)},
                           "clientExtensionResults": {}, "authenticatorAttachment": "platform"})
