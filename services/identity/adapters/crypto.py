"""Encryption at rest with the key-encryption key (KEK) from configuration.

AES-256-GCM (NIST SP 800-38D) from ``cryptography``: a fresh 96-bit random nonce per
message, and associated data binding each ciphertext to what it protects (a key's ``kid``,
a resident's id), so a ciphertext copied to another row does not decrypt. Layout:
``0x01 ‖ nonce (12) ‖ ciphertext+tag``; the version byte lets a new scheme coexist.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


class DecryptionFailed(Exception):
    """Wrong KEK, a tampered ciphertext, or one moved to another row."""


def _aead(kek: bytes) -> AESGCM:
    if len(kek) < 32:
        raise ValueError("the key-encryption key must have at least 32 bytes (AES-256)")
    # Configuration accepts longer key material; condense it to the 256-bit AES key.
    return AESGCM(kek if len(kek) == 32 else hashlib.sha256(kek).digest())


def encrypt(kek: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + _aead(kek).encrypt(nonce, plaintext, associated_data)


def decrypt(kek: bytes, blob: bytes, associated_data: bytes) -> bytes:
    if len(blob) < 1 + 12 + 16 or blob[:1] != _VERSION:
        raise DecryptionFailed("not a ciphertext of this scheme")
    try:
        return _aead(kek).decrypt(blob[1:13], blob[13:], associated_data)
    except InvalidTag:
        raise DecryptionFailed("the ciphertext does not decrypt with this key") from None
