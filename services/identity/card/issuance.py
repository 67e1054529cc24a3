"""OpenID for Verifiable Credential Issuance 1.0, pre-authorized code flow, for the carte citoyenne.

Framework-free like ``oidc/``: each endpoint is ``async def f(issuer, WireRequest, ...) ->
WireResponse``; storage is the narrow :class:`CardStore`; the resident's attributes (names,
birth date, borough: the accounts service's, not identity's) come with the offer, read by
Mon compte when the resident asks for the card (:class:`Holder`).

The flow (OpenID4VCI 1.0):

1. Mon compte, at level 2 or higher, calls :func:`create_offer`: a Credential Offer (s. 4.1)
   with a single-use pre-authorized code and a 6-digit transaction code shown beside the QR
   code (s. 4.1.1, ``tx_code``), never inside it, so a photographed QR code alone is useless.
2. The wallet reads the Credential Issuer Metadata (s. 12.2,
   ``/.well-known/openid-credential-issuer``) and exchanges the code and the transaction code
   at the token endpoint (s. 6.1, grant ``urn:ietf:params:oauth:grant-type:pre-authorized_code``).
3. It asks the Nonce Endpoint (s. 7) for a ``c_nonce`` and signs a proof of possession of its
   key (Appendix F.1, ``typ`` ``openid4vci-proof+jwt``: ``aud`` the issuer, ``iat``, ``nonce``).
4. The Credential Endpoint (s. 8) checks the access token and the proof and answers a
   ``dc+sd-jwt`` (SD-JWT VC) bound to the proof's key, signed by the card key (its own key,
   not the token-signing key), with a status list entry; issuance is recorded through the
   outbox (``card_issued``).

Errors are the ones OpenID4VCI names (s. 6.3 token, s. 8.3.1.2 credential) and RFC 6750's
``invalid_token``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from services.identity.card import sd_jwt, status_list
from services.identity.card.verifier import VCT_PATH
from services.identity.card.sd_jwt import b64url, b64url_decode
from services.identity.domain.events import CardIssued, CardRevoked
from services.identity.oidc.wire import WireRequest, WireResponse

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CONFIGURATION_ID = "carte_citoyenne_sd_jwt"
PROOF_TYP = "openid4vci-proof+jwt"
CARD_TYP = "dc+sd-jwt"
#: the claims the resident may disclose one by one (issue 23); iss, vct, iat, exp, cnf and
#: status stay plain because every verifier needs them
DISCLOSABLE = ("citizen_number", "given_name", "family_name", "birthdate", "age_over_18", "age_over_65",
               "resident_of_montreal", "borough", "assurance_level")
MIN_LEVEL = 2
TX_CODE_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class CardConfig:
    issuer: str
    #: HMAC key of the stateless c_nonce (derived from the key-encryption key)
    nonce_key: bytes
    card_lifetime: int = 14 * 86400      # short-lived: the wallet renews it (issue 23)
    offer_lifetime: int = 600
    access_token_lifetime: int = 300
    nonce_lifetime: int = 300
    proof_max_age: int = 300
    #: how long the wallet may renew the card without the resident (refresh token, RFC 6749 s. 6)
    renewal_window: int = 90 * 86400
    status_list_size: int = 131_072      # one list of 16 KiB; a card's index hides among them
    status_list_lifetime: int = 86_400   # ``exp`` of the published list
    status_list_ttl: int = 3_600         # how long a verifier may cache it before asking again

    @property
    def vct(self) -> str:
        return self.issuer + VCT_PATH

    @property
    def status_list_uri(self) -> str:
        return self.issuer + "/card/status/1"


@dataclasses.dataclass(frozen=True)
class CardKey:
    """The card-signing key (ES256), separate from the OpenID provider's token keys."""

    kid: str
    key: ECKey

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "ES256"}


# --- records and storage --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Holder:
    """What the card says of a resident (from the accounts service's verified attributes)."""

    given_name: str
    family_name: str
    birthdate: dt.date
    borough: str | None
    resident_of_montreal: bool

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "birthdate": self.birthdate.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Holder":
        return cls(**{**data, "birthdate": dt.date.fromisoformat(data["birthdate"])})


@dataclasses.dataclass
class CardOffer:
    code_hash: str
    tx_code_hash: str
    resident_id: str
    expires_at: int
    #: what the card will say, read by Mon compte from the accounts service when the resident
    #: asked; sealed with the key-encryption key at rest and erased once the card is issued
    holder: Holder | None = None
    used: bool = False
    failed_attempts: int = 0
    #: the wallet's refresh token (hash) and until when it renews the card; the sealed
    #: attributes are kept that long, and erased at revocation
    refresh_hash: str | None = None
    renewable_until: int = 0
    #: the RFC 7638 thumbprint of the wallet key the first card was bound to: a renewal must
    #: prove the same key, so a refresh token copied off the phone renews nothing
    wallet_jkt: str | None = None


@dataclasses.dataclass(frozen=True)
class CardAccess:
    token_hash: str
    resident_id: str
    expires_at: int
    offer_code_hash: str


@dataclasses.dataclass
class IssuedCard:
    card_id: str
    resident_id: str
    status_index: int
    issued_at: int
    expires_at: int
    revoked_at: int | None = None
    revoked_reason: str | None = None
    #: the card key that signed it (None: a card from before identity migration 0116, signed by
    #: the first generation): its public key stays published while the card is valid
    kid: str | None = None


class CardStore(Protocol):
    async def add_offer(self, offer: CardOffer) -> None: ...
    async def get_offer(self, code_hash: str) -> CardOffer | None: ...
    async def offer_by_refresh(self, refresh_hash: str) -> CardOffer | None: ...
    async def offers_for(self, resident_id: str) -> list[CardOffer]: ...
    async def update_offer(self, offer: CardOffer) -> None: ...
    async def add_access(self, access: CardAccess) -> None: ...
    async def get_access(self, token_hash: str) -> CardAccess | None: ...
    async def remove_access(self, token_hash: str) -> None: ...
    async def next_status_index(self) -> int: ...
    async def add_card(self, card: IssuedCard) -> None: ...
    async def cards_for(self, resident_id: str) -> list[IssuedCard]: ...
    async def update_card(self, card: IssuedCard) -> None: ...
    async def revoked_indexes(self) -> list[int]: ...
    async def signing_kids_in_use(self, now: int) -> set[str | None]: ...


class CardUnitOfWork(Protocol):
    cards: CardStore
    residents: Any

    async def __aenter__(self) -> "CardUnitOfWork": ...
    async def __aexit__(self, *exc: object) -> None: ...
    def add_event(self, event: Any) -> None: ...
    async def commit(self) -> None: ...


# --- the issuer -----------------------------------------------------------------------------


@dataclasses.dataclass
class CardIssuer:
    config: CardConfig
    #: the key that signs new cards and the status list (the current generation)
    key: CardKey
    uow_factory: Callable[[], CardUnitOfWork]
    clock: Callable[[], float] = time.time
    #: the next generation, published before it signs anything, so every verifier and every
    #: replica knows it when the operator moves to it (rotation without a gap)
    next_key: CardKey | None = None
    #: earlier generations: each published while a card it signed is still valid
    earlier_keys: tuple[CardKey, ...] = ()

    def now(self) -> int:
        return int(self.clock())


class OfferRefused(Exception):
    """Mon compte may not offer a card (a FAILED_PRECONDITION with a reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class Offer:
    offer: dict[str, Any]
    uri: str
    tx_code: str
    expires_at: int


async def create_offer(issuer: CardIssuer, resident_id: str, holder: Holder | None) -> Offer:
    """A Credential Offer by value (OpenID4VCI 1.0 s. 4.1) for a resident at level >= 2.

    ``holder``: the resident's verified attributes as Mon compte read them from the accounts
    service (None when it holds no verified name and birth date)."""
    now = issuer.now()
    async with issuer.uow_factory() as uow:
        resident = await uow.residents.get(resident_id)
        # The checks, in order: the resident exists and is active, and is verified enough.
        if resident is None or getattr(resident, "disabled", False) or getattr(resident, "closed_at", None):
            raise OfferRefused("resident_inactive")
        if int(getattr(resident.level, "value", resident.level)) < MIN_LEVEL:
            raise OfferRefused("level_too_low")
        if holder is None:
            raise OfferRefused("attributes_unavailable")
        code = secrets.token_urlsafe(32)
        tx_code = f"{secrets.randbelow(10**6):06d}"
        expires_at = now + issuer.config.offer_lifetime
        await uow.cards.add_offer(CardOffer(_hash(code), _hash(tx_code), resident_id, expires_at, holder))
        await uow.commit()
    offer = {
        "credential_issuer": issuer.config.issuer,
        "credential_configuration_ids": [CONFIGURATION_ID],
        "grants": {PRE_AUTHORIZED_GRANT: {
            "pre-authorized_code": code,
            "tx_code": {"input_mode": "numeric", "length": 6,
                        "description": "Code affiché dans Mon compte / Code shown in Mon compte"},
        }},
    }
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer, separators=(",", ":")), safe="")
    return Offer(offer, uri, tx_code, expires_at)


def credential_issuer_metadata(issuer: CardIssuer) -> dict[str, Any]:
    """Credential Issuer Metadata (OpenID4VCI 1.0 s. 12.2); the issuer is its own authorization server."""
    base = issuer.config.issuer
    claims = [
        ("citizen_number", "Numéro citoyen", "Citizen number"),
        ("given_name", "Prénom", "Given name"),
        ("family_name", "Nom", "Family name"),
        ("birthdate", "Date de naissance", "Birth date"),
        ("age_over_18", "18 ans ou plus", "18 or over"),
        ("age_over_65", "65 ans ou plus", "65 or over"),
        ("resident_of_montreal", "Réside à Montréal", "Lives in Montréal"),
        ("borough", "Arrondissement", "Borough"),
        ("assurance_level", "Niveau de vérification", "Assurance level"),
    ]
    return {
        "credential_issuer": base,
        # The card's own authorization server identifier: its RFC 8414 metadata names the
        # card token endpoint, which speaks only the pre-authorized code grant, so the
        # OpenID provider's /token stays as it is (issue 23 choice, docs/carte-citoyenne.md).
        "authorization_servers": [base + "/card"],
        "credential_endpoint": base + "/card/credential",
        "nonce_endpoint": base + "/card/nonce",
        "display": [{"name": "Ville de Montréal", "locale": "fr-CA"}, {"name": "City of Montréal", "locale": "en-CA"}],
        "credential_configurations_supported": {CONFIGURATION_ID: {
            "format": CARD_TYP,
            "vct": issuer.config.vct,
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
            "credential_metadata": {
                "display": [{"name": "Carte citoyenne", "locale": "fr-CA"}, {"name": "Citizen card", "locale": "en-CA"}],
                "claims": [{"path": [name], "display": [{"name": fr, "locale": "fr-CA"}, {"name": en, "locale": "en-CA"}]}
                           for name, fr, en in claims],
            },
        }},
    }


async def published_keys(issuer: CardIssuer) -> list[CardKey]:
    """The card keys a verifier must know (the rotation story, docs/carte-citoyenne.md): the
    current one, the next one (published ahead of its use), and each earlier generation that
    signed a card not yet expired (a card from before migration 0116 names no key: the first
    generation's). An earlier key leaves the set the day its last card expires."""
    async with issuer.uow_factory() as uow:
        in_use = await uow.cards.signing_kids_in_use(issuer.now())
    first = issuer.earlier_keys[0].kid if issuer.earlier_keys else None
    in_use = {first if kid is None else kid for kid in in_use}
    keys = [issuer.key] + ([issuer.next_key] if issuer.next_key is not None else [])
    return keys + [k for k in issuer.earlier_keys if k.kid in in_use]


async def jwt_vc_issuer_metadata(issuer: CardIssuer) -> dict[str, Any]:
    """SD-JWT VC issuer metadata (``/.well-known/jwt-vc-issuer``): the card keys a verifier caches.

    ``status_lists`` is ours: the lists an offline verifier should take home with the keys."""
    return {"issuer": issuer.config.issuer, "jwks": {"keys": [k.public_jwk() for k in await published_keys(issuer)]},
            "status_lists": [issuer.config.status_list_uri]}


def authorization_server_metadata(issuer: CardIssuer) -> dict[str, Any]:
    """RFC 8414 metadata of the card's authorization server (``<issuer>/card``), served at
    ``/.well-known/oauth-authorization-server/card`` (RFC 8414 s. 3.1, path after the well-known)."""
    base = issuer.config.issuer
    return {"issuer": base + "/card", "token_endpoint": base + "/card/token",
            "grant_types_supported": [PRE_AUTHORIZED_GRANT, "refresh_token"], "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            # OpenID4VCI 1.0 s. 12.3: a wallet needs no client registration for this grant
            "pre-authorized_grant_anonymous_access_supported": True}


async def authorization_server_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    return WireResponse.json(200, authorization_server_metadata(issuer), no_store=False)


async def metadata_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    return WireResponse.json(200, credential_issuer_metadata(issuer), no_store=False)


async def jwt_vc_issuer_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    return WireResponse.json(200, await jwt_vc_issuer_metadata(issuer), no_store=False)


def _oauth_error(status: int, error: str, description: str, headers: list[tuple[str, str]] | None = None) -> WireResponse:
    return WireResponse.json(status, {"error": error, "error_description": description}, headers)


async def token_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    """The pre-authorized code grant (OpenID4VCI 1.0 s. 6.1; errors s. 6.3 and RFC 6749 s. 5.2),
    and the refresh token grant (RFC 6749 s. 6) by which the wallet renews the card silently."""
    if request.method != "POST":
        return _oauth_error(400, "invalid_request", "use POST")
    form = request.form
    for name in ("grant_type", "pre-authorized_code", "tx_code", "refresh_token"):
        if len(form.get(name, [])) > 1:
            return _oauth_error(400, "invalid_request", f"{name} is repeated")
    grant_type = request.first(form, "grant_type")
    if grant_type == "refresh_token":
        return await _renewal(issuer, request.first(form, "refresh_token"))
    if grant_type != PRE_AUTHORIZED_GRANT:
        return _oauth_error(400, "unsupported_grant_type",
                            "grant_type must be the pre-authorized code grant or refresh_token")
    code = request.first(form, "pre-authorized_code")
    tx_code = request.first(form, "tx_code")
    if not code:
        return _oauth_error(400, "invalid_request", "pre-authorized_code is required")
    if not tx_code:
        return _oauth_error(400, "invalid_request", "tx_code is required (the code shown in Mon compte)")
    now = issuer.now()
    async with issuer.uow_factory() as uow:
        offer = await uow.cards.get_offer(_hash(code))
        if offer is None or offer.used or offer.expires_at < now or offer.failed_attempts >= TX_CODE_ATTEMPTS:
            return _oauth_error(400, "invalid_grant", "the offer is unknown, used or expired; ask Mon compte again")
        if not hmac.compare_digest(offer.tx_code_hash, _hash(tx_code)):
            offer.failed_attempts += 1
            await uow.cards.update_offer(offer)
            await uow.commit()
            # s. 6.3: a wrong transaction code is invalid_grant; after three the offer is void
            return _oauth_error(400, "invalid_grant", "the transaction code is wrong")
        offer.used = True
        answer = await _grant_access(issuer, uow, offer, now)
        await uow.commit()
    return answer


async def _renewal(issuer: CardIssuer, refresh_token: str | None) -> WireResponse:
    if not refresh_token:
        return _oauth_error(400, "invalid_request", "refresh_token is required")
    now = issuer.now()
    async with issuer.uow_factory() as uow:
        offer = await uow.cards.offer_by_refresh(_hash(refresh_token))
        # The checks, in order: known, still in its window (not revoked: revocation clears
        # it), the resident still active.
        if offer is None or offer.renewable_until < now or offer.holder is None:
            return _oauth_error(400, "invalid_grant", "the card can no longer be renewed; ask Mon compte again")
        resident = await uow.residents.get(offer.resident_id)
        if resident is None or resident.disabled or getattr(resident, "closed_at", None):
            return _oauth_error(400, "invalid_grant", "the card can no longer be renewed")
        answer = await _grant_access(issuer, uow, offer, now)  # the refresh token rotates
        await uow.commit()
    return answer


async def _grant_access(issuer: CardIssuer, uow: CardUnitOfWork, offer: CardOffer, now: int) -> WireResponse:
    token, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    offer.refresh_hash = _hash(refresh)
    if not offer.renewable_until:
        offer.renewable_until = now + issuer.config.renewal_window
    await uow.cards.update_offer(offer)
    await uow.cards.add_access(CardAccess(_hash(token), offer.resident_id, now + issuer.config.access_token_lifetime,
                                          offer.code_hash))
    return WireResponse.json(200, {"access_token": token, "token_type": "Bearer", "refresh_token": refresh,
                                   "expires_in": issuer.config.access_token_lifetime})


def new_nonce(issuer: CardIssuer) -> str:
    """A stateless c_nonce: its time and an HMAC, so every replica can check it without a table."""
    stamp = str(issuer.now()) + "." + b64url(secrets.token_bytes(12))
    mac = b64url(hmac.new(issuer.config.nonce_key, stamp.encode(), hashlib.sha256).digest())
    return stamp + "." + mac


def nonce_is_fresh(issuer: CardIssuer, nonce: Any) -> bool:
    if not isinstance(nonce, str) or nonce.count(".") != 2:
        return False
    stamp, _, mac = nonce.rpartition(".")
    expected = b64url(hmac.new(issuer.config.nonce_key, stamp.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return False
    issued = int(stamp.split(".")[0]) if stamp.split(".")[0].isdigit() else 0
    return 0 <= issuer.now() - issued <= issuer.config.nonce_lifetime


async def nonce_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    """The Nonce Endpoint (OpenID4VCI 1.0 s. 7): POST, answered with no-store."""
    if request.method != "POST":
        return _oauth_error(400, "invalid_request", "use POST")
    return WireResponse.json(200, {"c_nonce": new_nonce(issuer)})


class _CredentialError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _check_proof(issuer: CardIssuer, proof: Any) -> dict[str, Any]:
    """The ``jwt`` proof of possession (OpenID4VCI 1.0 Appendix F.1 and s. 8.2.1.1); its public key."""
    if not isinstance(proof, str) or proof.count(".") != 2:
        raise _CredentialError("invalid_proof", "proofs.jwt must hold one compact JWT")
    try:
        header = json.loads(b64url_decode(proof.split(".")[0]))
    except ValueError as exc:
        raise _CredentialError("invalid_proof", "the proof header is not JSON") from exc
    # The checks, in order: typ, alg, a public jwk, the signature, aud, iat, nonce.
    if not isinstance(header, dict) or header.get("typ") != PROOF_TYP:
        raise _CredentialError("invalid_proof", f"the proof typ must be {PROOF_TYP}")
    if header.get("alg") != "ES256":
        raise _CredentialError("invalid_proof", "the proof must be signed with ES256")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") != "EC":
        raise _CredentialError("invalid_proof", "the proof header must carry the wallet's public EC jwk")
    try:
        key = ECKey.import_key(jwk)
        claims = json.loads(jws.deserialize_compact(proof, key, algorithms=["ES256"]).payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise _CredentialError("invalid_proof", "the proof signature does not verify") from exc
    if claims.get("aud") != issuer.config.issuer:
        raise _CredentialError("invalid_proof", "the proof aud must be the credential issuer")
    iat = claims.get("iat")
    if not isinstance(iat, int) or abs(issuer.now() - iat) > issuer.config.proof_max_age:
        raise _CredentialError("invalid_proof", "the proof iat is not recent")
    if not nonce_is_fresh(issuer, claims.get("nonce")):
        raise _CredentialError("invalid_nonce", "ask the nonce endpoint for a fresh c_nonce")
    return key.as_dict(private=False)


def _age_on(birthdate: dt.date, today: dt.date) -> int:
    return today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))


def card_claims(issuer: CardIssuer, resident: Any, holder: Holder, status_index: int, now: int) -> dict[str, Any]:
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    age = _age_on(holder.birthdate, today)
    return {
        "iss": issuer.config.issuer,
        "vct": issuer.config.vct,
        "iat": now,
        "exp": now + issuer.config.card_lifetime,
        "status": {"status_list": {"idx": status_index, "uri": issuer.config.status_list_uri}},
        "citizen_number": resident.resident_id,
        "given_name": holder.given_name,
        "family_name": holder.family_name,
        "birthdate": holder.birthdate.isoformat(),
        "age_over_18": age >= 18,
        "age_over_65": age >= 65,
        "resident_of_montreal": holder.resident_of_montreal,
        "borough": holder.borough,
        "assurance_level": int(getattr(resident.level, "value", resident.level)),
    }


async def credential_endpoint(issuer: CardIssuer, request: WireRequest, body: bytes) -> WireResponse:
    """The Credential Endpoint (OpenID4VCI 1.0 s. 8): one ``dc+sd-jwt`` bound to the proof's key."""
    scheme, token = request.presented_token()
    if request.method != "POST":
        return _oauth_error(400, "invalid_credential_request", "use POST")
    if scheme != "bearer" or not token:
        return _oauth_error(401, "invalid_token", "a Bearer access token is required",
                            [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        payload = None
    now = issuer.now()
    try:
        if not isinstance(payload, dict):
            raise _CredentialError("invalid_credential_request", "the body must be a JSON object")
        if payload.get("credential_configuration_id") != CONFIGURATION_ID:
            raise _CredentialError("unknown_credential_configuration",
                                   f"credential_configuration_id must be {CONFIGURATION_ID}")
        proofs = payload.get("proofs")
        if not isinstance(proofs, dict) or not isinstance(proofs.get("jwt"), list) or len(proofs["jwt"]) != 1:
            raise _CredentialError("invalid_proof", "proofs.jwt must hold exactly one proof")
        async with issuer.uow_factory() as uow:
            access = await uow.cards.get_access(_hash(token))
            if access is None or access.expires_at < now:
                raise _CredentialError("invalid_token", "the access token is unknown or expired", 401)
            holder_jwk = _check_proof(issuer, proofs["jwt"][0])
            resident = await uow.residents.get(access.resident_id)
            offer = await uow.cards.get_offer(access.offer_code_hash)
            holder = offer.holder if offer is not None else None
            if resident is None or resident.disabled or getattr(resident, "closed_at", None) or holder is None:
                raise _CredentialError("credential_request_denied", "this resident cannot receive a card")
            jkt = ECKey.import_key(holder_jwk).thumbprint()
            renewal = offer.wallet_jkt is not None  # this offer gave the wallet a card already
            if offer.wallet_jkt is not None and not hmac.compare_digest(offer.wallet_jkt, jkt):
                raise _CredentialError("invalid_proof", "a renewal must be proven by the wallet key of the first card")
            offer.wallet_jkt = jkt
            await uow.cards.update_offer(offer)
            await uow.cards.remove_access(access.token_hash)  # one card per access token
            index = await uow.cards.next_status_index()
            if index >= issuer.config.status_list_size:
                raise _CredentialError("credential_request_denied", "the status list is full; try again later")
            claims = card_claims(issuer, resident, holder, index, now)
            card = IssuedCard(str(uuid.uuid4()), access.resident_id, index, now, claims["exp"], kid=issuer.key.kid)
            await uow.cards.add_card(card)
            uow.add_event(CardIssued(resident_id=access.resident_id, card_id=card.card_id,
                                     expires_at=_iso(card.expires_at), renewal=renewal))
            await uow.commit()
    except _CredentialError as exc:
        headers = [("WWW-Authenticate", 'Bearer error="invalid_token"')] if exc.status == 401 else None
        return _oauth_error(exc.status, exc.error, exc.description, headers)
    credential = sd_jwt.issue(claims, DISCLOSABLE, issuer.key.key, kid=issuer.key.kid, typ=CARD_TYP,
                              holder_jwk=holder_jwk)
    return WireResponse.json(200, {"credentials": [{"credential": credential}]})


async def revoke_cards(issuer: CardIssuer, uow: CardUnitOfWork, resident_id: str, reason: str) -> list[str]:
    """Revokes every valid card of a resident inside the caller's unit of work (the caller commits).

    Called when the resident says "J'ai perdu mon téléphone" in Mon compte."""
    return await revoke_all(uow, resident_id, reason, issuer.now())


async def revoke_all(uow: CardUnitOfWork, resident_id: str, reason: str, now: int) -> list[str]:
    """The revocation itself, also called by the account's own life: a resident disabled
    (``resident_disabled``) or closed (``account_closed``), in that change's transaction.
    The bit is set in the next published status list; ``card_revoked`` goes through the outbox."""
    for offer in await uow.cards.offers_for(resident_id):
        if offer.holder is not None or offer.refresh_hash is not None:
            # no renewal after a revocation, and the sealed attributes go now
            offer.holder, offer.refresh_hash, offer.renewable_until = None, None, 0
            await uow.cards.update_offer(offer)
    revoked = []
    for card in await uow.cards.cards_for(resident_id):
        if card.revoked_at is None and card.expires_at >= now:
            card.revoked_at, card.revoked_reason = now, reason
            await uow.cards.update_card(card)
            uow.add_event(CardRevoked(resident_id=resident_id, card_id=card.card_id, reason=reason))
            revoked.append(card.card_id)
    return revoked


async def current_status_list_token(issuer: CardIssuer) -> str:
    """The Status List Token as the database says now (draft-ietf-oauth-status-list s. 5)."""
    async with issuer.uow_factory() as uow:
        revoked = await uow.cards.revoked_indexes()
    entries = status_list.StatusList(size=issuer.config.status_list_size)
    for index in revoked:
        entries.set(index, status_list.INVALID)
    return status_list.status_list_token(entries, issuer.key.key, kid=issuer.key.kid,
                                         uri=issuer.config.status_list_uri, now=issuer.now(),
                                         lifetime=issuer.config.status_list_lifetime, ttl=issuer.config.status_list_ttl)


async def status_list_endpoint(issuer: CardIssuer, request: WireRequest) -> WireResponse:
    """The published Status List Token (draft-ietf-oauth-status-list s. 8.1), cacheable for ``ttl``."""
    token = await current_status_list_token(issuer)
    return WireResponse(200, token, [("Content-Type", "application/statuslist+jwt"),
                                     ("Cache-Control", f"public, max-age={issuer.config.status_list_ttl}")])
