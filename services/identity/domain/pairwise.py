"""Pairwise subject identifiers (OpenID Connect Core 1.0, section 8.1).

A partner (a client registered with ``subject_type = "pairwise"``, the default) never sees
the universal citizen number. It sees ``HMAC-SHA-256(secret, sector ‖ 0x00 ‖ resident_id)``,
base32-encoded: stable for one resident and one sector, different across sectors, and not
linkable between sectors — nor reversible — without the server's secret. Section 8.1
suggests ``SHA-256(sector ‖ local_id ‖ salt)``; a keyed HMAC is the same idea with the salt
as a proper key. The NUL separator keeps ``("ab", "c")`` and ``("a", "bc")`` apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from services.identity.domain.clients import OAuthClient


def pairwise_subject(resident_id: str, sector_identifier: str, secret: bytes) -> str:
    """The pairwise ``sub`` of ``resident_id`` for ``sector_identifier`` (a host name)."""
    if not secret:
        raise ValueError("the pairwise secret is empty")
    if not sector_identifier:
        raise ValueError("the sector identifier is empty")
    digest = hmac.new(secret, sector_identifier.lower().encode() + b"\x00" + resident_id.encode(),
                      hashlib.sha256).digest()
    # base32 lower-case, no padding: 52 characters, URL- and case-insensitive-safe.
    return base64.b32encode(digest).decode().rstrip("=").lower()


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
