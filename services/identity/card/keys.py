"""The card-signing key and the issuer's composition (issue 23).

The card key is its own (not the token-signing key, so a token key rotation never voids the
cards in wallets, and a verifier trusting cards trusts no ID token): a P-256 key derived from
the key-encryption key with its own purpose label, so every replica holds the same key
without a table, and it changes exactly when the KEK is rotated. Its ``kid`` is its RFC 7638
thumbprint, so verifiers can tell a rotation at a glance.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from services.identity.card.issuance import CardConfig, CardIssuer, CardKey
from services.identity.oidc.provider import derive_key

# the order of the P-256 group (SEC 2 s. 2.4.2)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def card_key(kek: bytes) -> CardKey:
    scalar = int.from_bytes(derive_key(kek, "carte-citoyenne/signing"), "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = ECKey.import_key(pem)
    return CardKey("card-" + key.thumbprint()[:16], key)


def card_issuer_for(settings: Any, uow_factory) -> CardIssuer:
    kek = settings.key_encryption_key
    config = CardConfig(issuer=settings.issuer.rstrip("/"), nonce_key=derive_key(kek, "carte-citoyenne/nonce"))
    return CardIssuer(config, card_key(kek), uow_factory)
