"""Pairwise subject identifiers (OpenID Connect Core 1.0, section 8.1).

A partner (a client registered with ``subject_type = "pairwise"``, the default) never sees
the universal citizen number. Section 8.1 asks for a value that is stable per resident and
sector, different across sectors, and "not reversible by any party other than the OpenID
Provider"; any algorithm with these properties may be used. We use deterministic
authenticated encryption, AES-SIV (RFC 5297), of the citizen number with the sector as
associated data, under a key derived (HKDF-SHA-256, RFC 5869) from the pairwise secret:

* stable: AES-SIV is deterministic;
* distinct and unlinkable across sectors without the secret: the sector is authenticated
  data, so each sector's values are independent pseudorandom strings;
* reversible by identity alone: ``ResolveSubject`` (accounts brokering for a partner)
  decrypts instead of keeping a lookup table of every subject ever handed out, and a
  forged or other-sector subject fails authentication instead of resolving to someone.

Encoding: base32, lower case, no padding (45 characters).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from services.identity.domain.clients import OAuthClient

_KEYS: dict[bytes, AESSIV] = {}


def _cipher(secret: bytes) -> AESSIV:
    if not secret:
        raise ValueError("the pairwise secret is empty")
    cipher = _KEYS.get(secret)
    if cipher is None:
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                   info=b"mtlid pairwise subject v1").derive(secret)
        cipher = _KEYS[secret] = AESSIV(key)
    return cipher


def pairwise_subject(resident_id: str, sector_identifier: str, secret: bytes) -> str:
    """The pairwise ``sub`` of ``resident_id`` for ``sector_identifier`` (a host name)."""
    if not sector_identifier:
        raise ValueError("the sector identifier is empty")
    sealed = _cipher(secret).encrypt(resident_id.encode(), [sector_identifier.lower().encode()])
    return base64.b32encode(sealed).decode().rstrip("=").lower()


def resolve_pairwise_subject(subject: str, sector_identifier: str, secret: bytes) -> str | None:
    """The resident_id behind a pairwise subject of this sector, or None if it is not one."""
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        return None
    try:
        text = subject.strip().upper()
        sealed = base64.b32decode(text + "=" * (-len(text) % 8))
        return _cipher(secret).decrypt(sealed, [sector_identifier.lower().encode()]).decode()
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return None


def sector_of(client: "OAuthClient") -> str:
    """OIDC Core 8.1: the sector is the host of the redirect URIs unless registered explicitly.

    A client without redirect URIs (client credentials only) is its own sector.
    """
    if client.sector_identifier:
        return client.sector_identifier.lower()
    hosts = {urlsplit(uri).hostname or "" for uri in client.redirect_uris}
    hosts.discard("")
    if len(hosts) == 1:
        return hosts.pop().lower()
    if not hosts:
        return f"client:{client.client_id}"
    # Registration refuses this case (clients.validate_client); be safe if one slipped in.
    raise ValueError("a pairwise client with several redirect hosts needs a sector_identifier")


def subject_for(client: "OAuthClient", resident_id: str, secret: bytes) -> str:
    """The ``sub`` this client may see for this resident: universal for public clients."""
    if client.subject_type == "public":
        return resident_id
    return pairwise_subject(resident_id, sector_of(client), secret)
