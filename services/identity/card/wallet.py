"""The reference wallet (``mtlid wallet``, development only): the holder side over real HTTP.

It exists so the whole flow is tested end to end (issue 23); it is not the city's wallet, but
it shows the holder binding the city's wallet must follow (commitment 6: a device key and a
PIN, never a face):

- at setup the holder chooses a PIN of at least 6 digits (:data:`MIN_PIN_DIGITS`);
- the device private key is kept only encrypted, under a key derived from the PIN with scrypt
  (RFC 7914, memory-hard) and AES-256-GCM (NIST SP 800-38D), in one JSON file of mode 0600
  with the cards;
- every proof of possession (OpenID4VCI 1.0 s. 8.2.1.1) and every key-binding JWT (RFC 9901
  s. 4.3) needs the PIN: a wrong PIN is refused and nothing is signed;
- after :data:`MAX_WRONG_PINS` wrong PINs in a row the wallet erases its key, as a secure
  element does: the card is then as lost as a lost phone's ("J'ai perdu mon téléphone");
- there is no biometric unlock, anywhere.

What a file cannot do (a secure element does): the retry counter lives in the same file as the
key, so whoever copies the file can guess PINs offline; scrypt only slows that down.

Issuance (OpenID4VCI 1.0, pre-authorized code flow): offer -> issuer metadata -> the
authorization server's metadata (RFC 8414) -> token with the transaction code -> c_nonce ->
credential with an ``openid4vci-proof+jwt``. Presentation: the chosen Disclosures and a
KB-JWT for the verifier's ``aud`` and ``nonce`` (RFC 9901 s. 4.3), as text or a QR code, or
over OpenID4VP 1.0 (:meth:`ReferenceWallet.answer_openid4vp`): the request by reference, its
DCQL query, and the ``direct_post`` answer.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
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


#: A PIN is digits only, at least this many (what the city's wallet must ask at setup).
MIN_PIN_DIGITS = 6
#: Wrong PINs in a row after which the key is erased (a secure element's retry counter).
MAX_WRONG_PINS = 5
#: scrypt cost (RFC 7914 s. 2): N = 2^15, r = 8, p = 1 is 32 MiB and ~0.1 s a try here; higher
#: makes every test presentation slower and still cannot save a 6-digit PIN from an offline search
#: of a copied file (10^6 tries): only hardware can, hence the secure element asked of the city's
#: wallet (docs/carte-citoyenne.md).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_AAD = b"mtlid reference wallet device key v1"


class WrongPin(Exception):
    """Raised inside :meth:`ReferenceWallet.unlock`; callers see a :class:`WalletError`."""


def check_new_pin(pin: str) -> str:
    """A PIN the holder may choose: digits only, at least :data:`MIN_PIN_DIGITS` of them."""
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or len(pin) < MIN_PIN_DIGITS:
        raise WalletError("setup", "invalid_pin", f"the PIN must be at least {MIN_PIN_DIGITS} digits")
    return pin


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pin_key(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # UTF-8, not ASCII: a valid PIN is ASCII digits, and any other text typed is only a wrong PIN
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(pin.encode("utf-8"))


def seal_key(key: ECKey, pin: str) -> dict[str, Any]:
    """The device private key encrypted under the PIN (scrypt, then AES-256-GCM); the public key
    is the associated data, so a sealed key cannot be swapped under another public key."""
    salt, nonce = os.urandom(16), os.urandom(12)
    public = json.dumps(key.as_dict(private=False), sort_keys=True)
    sealed = AESGCM(_pin_key(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(
        nonce, json.dumps(key.as_dict(private=True)).encode(), _AAD + public.encode())
    return {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt),
            "enc": "A256GCM", "iv": _b64(nonce), "ciphertext": _b64(sealed), "public_jwk": public}


def open_sealed_key(sealed: dict[str, Any], pin: str) -> ECKey:
    key = _pin_key(pin, _unb64(sealed["salt"]), int(sealed["n"]), int(sealed["r"]), int(sealed["p"]))
    try:
        clear = AESGCM(key).decrypt(_unb64(sealed["iv"]), _unb64(sealed["ciphertext"]),
                                    _AAD + sealed["public_jwk"].encode())
    except InvalidTag:
        raise WrongPin() from None
    return ECKey.import_key(json.loads(clear))


def parse_offer(offer_uri: str) -> dict[str, Any]:
    """The Credential Offer by value (OpenID4VCI 1.0 s. 4.1.3: ``credential_offer`` parameter)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(offer_uri).query)
    if "credential_offer" not in query:
        raise WalletError("offer", "invalid_offer", "no credential_offer parameter")
    return json.loads(query["credential_offer"][0])


@dataclass
class ReferenceWallet:
    #: the device key, sealed under the PIN (:func:`seal_key`); None once erased
    sealed_key: dict[str, Any] | None
    cards: list[str] = field(default_factory=list)
    path: Path | None = None
    #: where and how to renew the card silently: issuer, token endpoint, refresh token
    renewal: dict[str, str] = field(default_factory=dict)
    #: wrong PINs in a row (reset by a right one)
    wrong_pins: int = 0

    @classmethod
    def open(cls, path: Path | None, pin: str | None = None) -> "ReferenceWallet":
        """The wallet in ``path``; when there is none yet, set one up: a new device key sealed
        under ``pin``, which the holder chooses now (:func:`check_new_pin`). Opening an existing
        wallet needs no PIN (its cards are not secret from their holder; its key stays sealed)."""
        if path is not None and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if "key" in data:
                raise WalletError("open", "clear_key", f"{path} keeps its device key without a PIN (an older "
                                  "reference wallet): delete it and accept a new card")
            return cls(data.get("sealed_key"), list(data.get("cards", [])), path, dict(data.get("renewal", {})),
                       int(data.get("wrong_pins", 0)))
        if pin is None:
            raise WalletError("setup", "pin_required", "a new wallet needs the PIN its holder chooses")
        wallet = cls(seal_key(ECKey.generate_key("P-256"), check_new_pin(pin)), [], path)
        wallet.save()
        return wallet

    @property
    def locked(self) -> bool:
        return self.sealed_key is None

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The device's public key (what the card is bound to: its ``cnf.jwk``); no PIN needed."""
        if self.sealed_key is None:
            raise _locked_error()
        return json.loads(self.sealed_key["public_jwk"])

    def unlock(self, pin: str) -> ECKey:
        """The device key for one signature. A wrong PIN is counted (and saved before the answer,
        so killing the process does not reset the count); the :data:`MAX_WRONG_PINS`-th erases
        the key. A right PIN resets the count."""
        if self.sealed_key is None:
            raise _locked_error()
        try:
            key = open_sealed_key(self.sealed_key, str(pin))
        except WrongPin:
            self.wrong_pins += 1
            if self.wrong_pins >= MAX_WRONG_PINS:
                # What a secure element does: the key is gone; so is the refresh token bound to it.
                self.sealed_key, self.renewal = None, {}
                self.save()
                raise _locked_error() from None
            self.save()
            left = MAX_WRONG_PINS - self.wrong_pins
            raise WalletError("pin", "wrong_pin", f"wrong PIN; {left} tr{'y' if left == 1 else 'ies'} left before "
                              "the wallet erases its key") from None
        if self.wrong_pins:
            self.wrong_pins = 0
            self.save()
        return key

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 rather than chmod-ed after writing: the wallet is never readable by
        # others, not even for an instant (a file that already exists is narrowed too).
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps({"sealed_key": self.sealed_key, "wrong_pins": self.wrong_pins,
                                  "cards": self.cards, "renewal": self.renewal}))

    async def accept_offer(self, http: httpx.AsyncClient, offer_uri: str, tx_code: str, *, pin: str) -> str:
        offer = parse_offer(offer_uri)
        key = self.unlock(pin)  # before any request: a wrong PIN spends no transaction code
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
        return await self._credential(http, issuer, metadata, token.json()["access_token"], key)

    async def renew(self, http: httpx.AsyncClient, *, pin: str) -> str:
        """A new card with the refresh token (RFC 6749 s. 6): what a wallet does days before
        ``exp``. Its proof of possession needs the PIN like any other signature by the key."""
        if not self.renewal.get("refresh_token"):
            raise WalletError("renew", "no_card", "the wallet holds no renewable card")
        key = self.unlock(pin)
        issuer = self.renewal["issuer"]
        metadata = (await http.get(well_known(issuer, "openid-credential-issuer"))).json()
        token = await http.post(self.renewal["token_endpoint"],
                                data={"grant_type": "refresh_token", "refresh_token": self.renewal["refresh_token"]})
        _raise_for("token", token)
        self.renewal["refresh_token"] = token.json().get("refresh_token", "")  # rotated
        self.save()
        return await self._credential(http, issuer, metadata, token.json()["access_token"], key)

    async def _credential(self, http: httpx.AsyncClient, issuer: str, metadata: dict, access_token: str,
                          key: ECKey) -> str:
        nonce = await http.post(metadata["nonce_endpoint"])
        _raise_for("nonce", nonce)
        proof = jws.serialize_compact(
            {"alg": "ES256", "typ": PROOF_TYP, "jwk": key.as_dict(private=False)},
            json.dumps({"aud": issuer, "iat": int(time.time()), "nonce": nonce.json()["c_nonce"]}).encode(),
            key, algorithms=["ES256"])
        response = await http.post(metadata["credential_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                                   json={"credential_configuration_id": CONFIGURATION_ID, "proofs": {"jwt": [proof]}})
        _raise_for("credential", response)
        card = response.json()["credentials"][0]["credential"]
        self.cards.append(card)
        self.save()
        return card

    def present(self, claims: list[str], *, audience: str, nonce: str, pin: str, card: str | None = None) -> str:
        """The newest card with only ``claims`` disclosed, its KB-JWT signed by this device's
        key, which only the holder's PIN unlocks."""
        chosen = card or (self.cards[-1] if self.cards else None)
        if chosen is None:
            raise WalletError("present", "no_card", "the wallet holds no card")
        key = self.unlock(pin)
        return sd_jwt.present(chosen, claims, key, audience=audience, nonce=nonce, issued_at=int(time.time()))

    async def answer_openid4vp(self, http: httpx.AsyncClient, request_url: str,
                               claims: list[str] | None = None, *, pin: str) -> dict[str, Any]:
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
        presentation = self.present(chosen, audience=client_id, nonce=request["nonce"], pin=pin)
        answer = await http.post(request["response_uri"], data={
            "vp_token": json.dumps({credential["id"]: [presentation]}), "state": request["state"]})
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return {"status": answer.status_code, "client_name": request.get("client_metadata", {}).get("client_name"),
                "asked": asked, **body}


def _locked_error() -> WalletError:
    return WalletError("pin", "wallet_locked", f"{MAX_WRONG_PINS} wrong PINs in a row: the wallet erased its device "
                       "key; declare the phone lost in Mon compte and add a new card to a new wallet")


def _raise_for(step: str, response: httpx.Response) -> None:
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise WalletError(step, body.get("error", str(response.status_code)), body.get("error_description", ""))
