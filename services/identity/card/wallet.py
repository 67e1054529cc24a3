"""The reference wallet (``mtlid wallet``, development only): the holder side over real HTTP.

It exists so the whole flow is tested end to end (issue 23); it is not the city's wallet.
It keeps its device key and cards in one JSON file (mode 0600); a real wallet keeps the key
in the phone's secure element behind its PIN (commitment 6: a device key and a PIN, never a
face).

Issuance (OpenID4VCI 1.0, pre-authorized code flow): offer -> issuer metadata -> the
authorization server's metadata (RFC 8414) -> token with the transaction code -> c_nonce ->
credential with an ``openid4vci-proof+jwt``. Presentation: the chosen Disclosures and a
KB-JWT for the verifier's ``aud`` and ``nonce`` (RFC 9901 s. 4.3), as text or a QR code, or
over OpenID4VP 1.0 (:meth:`ReferenceWallet.answer_openid4vp`): the request by reference, its
DCQL query, and the ``direct_post`` answer.
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
from services.identity.card.verifier import well_known


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
        # Created 0600 rather than chmod-ed after writing: the device key is never readable by
        # others, not even for an instant (a file that already exists is narrowed too).
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps({"key": self.key.as_dict(private=True), "cards": self.cards,
                                  "renewal": self.renewal}))

    async def accept_offer(self, http: httpx.AsyncClient, offer_uri: str, tx_code: str) -> str:
        offer = parse_offer(offer_uri)
        issuer = offer["credential_issuer"]
        grant = offer["grants"][PRE_AUTHORIZED_GRANT]
        metadata = (await http.get(well_known(issuer, "openid-credential-issuer"))).json()
        as_meta_url = well_known(metadata["authorization_servers"][0], "oauth-authorization-server")
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
        metadata = (await http.get(well_known(issuer, "openid-credential-issuer"))).json()
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


    async def answer_openid4vp(self, http: httpx.AsyncClient, request_url: str,
                               claims: list[str] | None = None) -> dict[str, Any]:
        """Answers an ``openid4vp://?client_id=…&request_uri=…`` request (OpenID4VP 1.0 s. 5.10):
        fetches the Request Object, checks it names the same ``client_id`` and a ``direct_post``
        response, discloses the claims its DCQL query asks (or ``claims``, to test a verifier
        that must refuse), bound to ``aud`` = ``client_id`` and the request's ``nonce``, and
        posts ``vp_token`` and ``state`` to ``response_uri``. Returns what the verifier said
        (its JSON and status)."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request_url).query)
        if len(query.get("client_id", [])) != 1 or len(query.get("request_uri", [])) != 1:
            raise WalletError("openid4vp", "invalid_request", "client_id and request_uri are required")
        fetched = await http.get(query["request_uri"][0])
        if fetched.status_code != 200:
            raise WalletError("openid4vp", "invalid_request_uri", f"the request object answered {fetched.status_code}")
        header_part, payload_part, _signature = (fetched.text.strip().split(".") + ["", ""])[:3]
        header = json.loads(sd_jwt.b64url_decode(header_part))
        request = json.loads(sd_jwt.b64url_decode(payload_part))
        client_id = query["client_id"][0]
        # A redirect_uri: client identifier comes unsigned, and its response URI is the client id's
        # (OpenID4VP 1.0 s. 5.9.3): anything else is not what the QR code promised.
        if header.get("typ") != "oauth-authz-req+jwt" or request.get("client_id") != client_id \
                or request.get("response_mode") != "direct_post" \
                or client_id != "redirect_uri:" + str(request.get("response_uri")):
            raise WalletError("openid4vp", "invalid_request", "the request object does not match its client_id")
        [credential] = request["dcql_query"]["credentials"]
        asked = [c["path"][0] for c in credential.get("claims", [])]
        chosen = asked if claims is None else claims
        presentation = self.present(chosen, audience=client_id, nonce=request["nonce"])
        answer = await http.post(request["response_uri"], data={
            "vp_token": json.dumps({credential["id"]: [presentation]}), "state": request["state"]})
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return {"status": answer.status_code, "client_name": request.get("client_metadata", {}).get("client_name"),
                "asked": asked, **body}


def _raise_for(step: str, response: httpx.Response) -> None:
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise WalletError(step, body.get("error", str(response.status_code)), body.get("error_description", ""))
