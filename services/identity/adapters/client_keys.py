"""Fetching a client's published JWK Set (``jwks_uri``, OIDC Registration s. 2) for
``private_key_jwt``: https, short timeout, no redirect, bounded size."""

from __future__ import annotations

import httpx

MAX_BYTES = 64 * 1024


async def fetch_jwks(uri: str) -> dict:
    async with httpx.AsyncClient(timeout=3.0, follow_redirects=False) as http:
        response = await http.get(uri, headers={"Accept": "application/json"})
    response.raise_for_status()
    if len(response.content) > MAX_BYTES:
        raise ValueError("JWK Set too large")
    return response.json()
