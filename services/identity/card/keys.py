"""The card-signing key and the issuer's composition (issue 23).

The card key is its own (not the token-signing key, so a token key rotation never voids the
cards in wallets, and a verifier trusting cards trusts no ID token): a P-256 key derived from
the key-encryption key with its own purpose label, so every replica holds the same key
without a table. Its ``kid`` is ``card-`` and the start of its RFC 7638 thumbprint.

Rotation (docs/carte-citoyenne.md): keys come in *generations*, each derived with its own
label (generation 1 keeps the original label, so cards already in wallets stay valid).
``MTLID_CARD_KEY_GENERATION`` = N: generation N signs new cards and the status list;
generation N+1 is published ahead (``/.well-known/jwt-vc-issuer``), so verifiers have it in
their cache before any replica signs with it; generations below N are published only while a
card they signed is still valid (``issuance.published_keys``). To rotate: raise N by one on
every replica (a rolling restart is safe: both keys are published all along); wallets renew
within 14 days onto the new key; the old key then leaves the metadata by itself.
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


def card_key(kek: bytes, generation: int = 1) -> CardKey:
    label = "carte-citoyenne/signing" if generation == 1 else f"carte-citoyenne/signing/{generation}"
    scalar = int.from_bytes(derive_key(kek, label), "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = ECKey.import_key(pem)
    return CardKey("card-" + key.thumbprint()[:16], key)


def card_issuer_for(settings: Any, uow_factory) -> CardIssuer:
    kek = settings.key_encryption_key
    config = CardConfig(issuer=settings.issuer.rstrip("/"), nonce_key=derive_key(kek, "carte-citoyenne/nonce"))
    generation = int(getattr(settings, "card_key_generation", 1) or 1)
    return CardIssuer(config, card_key(kek, generation), uow_factory, next_key=card_key(kek, generation + 1),
                      earlier_keys=tuple(card_key(kek, g) for g in range(1, generation)))
