"""The reference wallet (``mtlid wallet``, development only): the holder side over real HTTP.

It exists so the whole flow is tested end to end (issue 23); it is not the city's wallet.
It keeps its device key and cards in one JSON file (mode 0600); a real wallet keeps the key
in the phone's secure element behind its PIN (commitment 6: a device key and a PIN, never a
face).

Issuance (OpenID4VCI 1.0, pre-authorized code flow): offer -> issuer metadata -> the
authorization server's metadata (RFC 8414) -> token with the transaction code -> c_nonce ->
credential with an ``openid4vci-proof+jwt``. Presentation: the chosen Disclosures and a
KB-JWT for the verifier's ``aud`` and ``nonce`` (RFC 9901 s. 4.3), as text or a QR code.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey

from services.identity.card import sd_jwt
from services.identity.card.issuance import CONFIGURATION_ID, PRE_AUTHORIZED_GRANT, PROOF_TYP


class WalletError(Exception):
    """The issuer refused a step; ``error`` is its OAuth error code."""

    def __init__(self, step: str, error: str, description: str = "") -> None:
        super().__init__(f"{step}: {error} {description}".strip())
        self.step, self.error, self.description = step, error, description


def parse_offer(offer_uri: str) -> dict[str, Any]:
    """The Credential Offer by value (OpenID4VCI 1.0 s. 4.1.3: ``credential_offer`` parameter)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(offer_uri).query)
    if "credential_offer" not in query:
        raise WalletError("offer", "invalid_offer", "no credential_offer parameter")
    return json.loads(query["credential_offer"][0])


@dataclass
class ReferenceWallet:
    key: ECKey
    cards: list[str] = field(default_factory=list)
    path: Path | None = None
    #: where and how to renew the card silently: issuer, token endpoint, refresh token
    renewal: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path | None) -> "ReferenceWallet":
        if path is not None and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(ECKey.import_key(data["key"]), list(data.get("cards", [])), path, dict(data.get("renewal", {})))
        wallet = cls(ECKey.generate_key("P-256"), [], path)
        wallet.save()
        return wallet

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"key": self.key.as_dict(private=True), "cards": self.cards,
                                               "renewal": self.renewal}), encoding="utf-8")
        os.chmod(self.path, 0o600)

    async def accept_offer(self, http: httpx.AsyncClient, offer_uri: str, tx_code: str) -> str:
        offer = parse_offer(offer_uri)
        issuer = offer["credential_issuer"]
        grant = offer["grants"][PRE_AUTHORIZED_GRANT]
        metadata = (await http.get(issuer + "/.well-known/openid-credential-issuer")).json()
        as_id = metadata["authorization_servers"][0]
        split = urllib.parse.urlsplit(as_id)
        as_meta_url = f"{split.scheme}://{split.netloc}/.well-known/oauth-authorization-server{split.path}"
        token_endpoint = (await http.get(as_meta_url)).json()["token_endpoint"]
        token = await http.post(token_endpoint, data={"grant_type": PRE_AUTHORIZED_GRANT,
                                                      "pre-authorized_code": grant["pre-authorized_code"],
                                                      "tx_code": tx_code})
        _raise_for("token", token)
        self.renewal = {"issuer": issuer, "token_endpoint": token_endpoint,
                        "refresh_token": token.json().get("refresh_token", "")}
        return await self._credential(http, issuer, metadata, token.json()["access_token"])

    async def renew(self, http: httpx.AsyncClient) -> str:
        """A new card with the refresh token (RFC 6749 s. 6), no resident involved: what a
        wallet does days before ``exp``."""
        if not self.renewal.get("refresh_token"):
            raise WalletError("renew", "no_card", "the wallet holds no renewable card")
        issuer = self.renewal["issuer"]
        metadata = (await http.get(issuer + "/.well-known/openid-credential-issuer")).json()
        token = await http.post(self.renewal["token_endpoint"],
                                data={"grant_type": "refresh_token", "refresh_token": self.renewal["refresh_token"]})
        _raise_for("token", token)
        self.renewal["refresh_token"] = token.json().get("refresh_token", "")  # rotated
        self.save()
        return await self._credential(http, issuer, metadata, token.json()["access_token"])

    async def _credential(self, http: httpx.AsyncClient, issuer: str, metadata: dict, access_token: str) -> str:
        nonce = await http.post(metadata["nonce_endpoint"])
        _raise_for("nonce", nonce)
        proof = jws.serialize_compact(
            {"alg": "ES256", "typ": PROOF_TYP, "jwk": self.key.as_dict(private=False)},
            json.dumps({"aud": issuer, "iat": int(time.time()), "nonce": nonce.json()["c_nonce"]}).encode(),
            self.key, algorithms=["ES256"])
        response = await http.post(metadata["credential_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                                   json={"credential_configuration_id": CONFIGURATION_ID, "proofs": {"jwt": [proof]}})
        _raise_for("credential", response)
        card = response.json()["credentials"][0]["credential"]
        self.cards.append(card)
        self.save()
        return card

    def present(self, claims: list[str], *, audience: str, nonce: str, card: str | None = None) -> str:
        """The newest card with only ``claims`` disclosed, bound to this device's key."""
        chosen = card or (self.cards[-1] if self.cards else None)
        if chosen is None:
            raise WalletError("present", "no_card", "the wallet holds no card")
        return sd_jwt.present(chosen, claims, self.key, audience=audience, nonce=nonce, issued_at=int(time.time()))


def _raise_for(step: str, response: httpx.Response) -> None:
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise WalletError(step, body.get("error", str(response.status_code)), body.get("error_description", ""))
