"""Passkeys (WebAuthn Level 3) for residents and counter agents: the registration and
authentication ceremonies (s. 7.1 and 7.2), on py_webauthn (Duo Labs' ``webauthn`` on PyPI:
maintained, typed, verifies every step of both ceremonies including the signature counter;
python-fido2 is broader — it is also a client — and we need the relying-party side only).

Handlers take a command and an ``IdentityUnitOfWork``. The browser receives the options as
JSON (``options_to_json``) and sends the credential back as JSON (the WebAuthn L3
``toJSON()`` shape). Every challenge is random (32 bytes), stored with its purpose and
subject until it expires (5 minutes) and deleted when used (s. 13.4.3): a response
verifies once. The relying party is the issuer's host and origin (``RelyingParty``): a
passkey made for another site, or a response from another origin, is refused (s. 13.4.9,
phishing resistance). A signature counter that does not move forward (when the
authenticator keeps one) refuses the sign-in: the credential may have been cloned (s. 6.1.1).

What a refused response tells the browser is a stable ``reason`` (``PasskeyRefused``):
``challenge`` (unknown, used or expired), ``unknown_credential``, ``not_yours``, ``origin``,
``rp_id``, ``signature``, ``counter`` (clone suspected), ``user_verification``, ``malformed``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from webauthn import (generate_authentication_options, generate_registration_options, options_to_json,
                      verify_authentication_response, verify_registration_response)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, CredentialDeviceType,
                                      PublicKeyCredentialDescriptor, ResidentKeyRequirement,
                                      UserVerificationRequirement)

from services.identity.domain.passkeys import RESIDENT, Passkey, clean_name
from services.identity.domain.errors import Conflict
from services.identity.domain.events import LoginFailed
from services.identity.service_layer import security_notices

log = logging.getLogger("services.identity.passkeys")
CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
TIMEOUT_MS = 300_000
MAX_CREDENTIAL_JSON = 16 * 1024
REGISTER, SIGN_IN, SECOND_FACTOR = "register", "sign_in", "second_factor"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RelyingParty:
    """WebAuthn's relying party: the RP ID is the issuer's host (s. 5.1.2: a registrable
    domain suffix of the origin — so never an IP address), the origin its scheme and host."""
    rp_id: str
    origin: str
    name: str = "Ville de Montréal"

    @classmethod
    def of_issuer(cls, issuer: str) -> "RelyingParty":
        parts = urlsplit(issuer)
        return cls(rp_id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}")


class PasskeyRefused(Exception):
    """The response cannot be accepted; ``reason`` is one of the module's stable reasons."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# -- registration (WebAuthn L3 s. 7.1) ------------------------------------------------------

async def registration_options(uow, rp: RelyingParty, owner_kind: str, owner_id: str, user_name: str,
                               display_name: str) -> str:
    """The ``PublicKeyCredentialCreationOptions`` for a new passkey, as JSON: a discoverable
    credential (a passkey signs in without typing a login), user verification preferred, the
    owner's existing credentials excluded (no second copy on the same authenticator). The
    user handle is random and says nothing about the owner (s. 14.6.1)."""
    now = utcnow()
    async with uow:
        existing = await uow.passkeys.of(owner_kind, owner_id)
        options = generate_registration_options(
            rp_id=rp.rp_id, rp_name=rp.name, user_name=user_name, user_display_name=display_name,
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.PREFERRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                                 for p in existing])
        await uow.webauthn_challenges.add(bytes_to_base64url(options.challenge), REGISTER,
                                          f"{owner_kind}:{owner_id}", now + CHALLENGE_LIFETIME, now)
        await uow.commit()
    return options_to_json(options)


@dataclass(frozen=True)
class RegisterPasskey:
    owner_kind: str
    owner_id: str
    credential: str          # the browser's PublicKeyCredential, JSON
    name: str


async def register_passkey(cmd: RegisterPasskey, uow, rp: RelyingParty) -> Passkey:
    """Verify the new credential (s. 7.1: challenge, origin, RP ID hash, user presence,
    attestation ``none`` accepted: the city does not restrict makers) and keep it under the
    owner's name for it. The caller checked the owner re-authenticated recently."""
    name = clean_name(cmd.name)
    if name is None:
        raise PasskeyRefused("name")
    challenge = _challenge_of(cmd.credential)
    now = utcnow()
    async with uow:
        if not await uow.webauthn_challenges.take(challenge, REGISTER, f"{cmd.owner_kind}:{cmd.owner_id}", now):
            await uow.commit()
            raise PasskeyRefused("challenge")
        await uow.commit()  # used, whatever comes next
        try:
            verified = verify_registration_response(
                credential=cmd.credential, expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp.rp_id, expected_origin=rp.origin)
        except WebAuthnException as error:
            raise PasskeyRefused(_reason(str(error)), str(error)) from None
        transports = _transports(cmd.credential)
        passkey = Passkey(credential_id=bytes_to_base64url(verified.credential_id), owner_kind=cmd.owner_kind,
                          owner_id=cmd.owner_id, public_key=verified.credential_public_key,
                          sign_count=verified.sign_count,
                          multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
                          name=name, created_at=now, transports=transports)
        try:
            await uow.passkeys.add(passkey)
        except Conflict:
            raise PasskeyRefused("already_registered") from None
        if cmd.owner_kind == RESIDENT:
            security_notices.passkey_added(uow, await uow.residents.get(cmd.owner_id), now)
        await uow.commit()
    return passkey


# -- authentication (WebAuthn L3 s. 7.2) ----------------------------------------------------

async def authentication_options(uow, rp: RelyingParty, purpose: str, owner_kind: str | None = None,
                                 owner_id: str | None = None) -> str:
    """``PublicKeyCredentialRequestOptions`` as JSON. To sign in (``SIGN_IN``): no allowed
    list, the browser offers the site's passkeys (discoverable credentials, conditional UI);
    user verification required, since the passkey is the only factor. As a second factor
    (``SECOND_FACTOR``): the owner's credentials only; presence suffices after the password
    (but UV, when done, is recorded)."""
    now = utcnow()
    subject = f"{owner_kind}:{owner_id}" if owner_id else None
    async with uow:
        allowed = []
        if purpose == SECOND_FACTOR:
            allowed = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                       for p in await uow.passkeys.of(owner_kind, owner_id)]
        options = generate_authentication_options(
            rp_id=rp.rp_id, timeout=TIMEOUT_MS, allow_credentials=allowed,
            user_verification=(UserVerificationRequirement.REQUIRED if purpose == SIGN_IN
                               else UserVerificationRequirement.PREFERRED))
        await uow.webauthn_challenges.add(bytes_to_base64url(options.challenge), purpose, subject,
                                          now + CHALLENGE_LIFETIME, now)
        await uow.commit()
    return options_to_json(options)


@dataclass(frozen=True)
class VerifyPasskey:
    credential: str                  # the browser's PublicKeyCredential (assertion), JSON
    purpose: str                     # SIGN_IN | SECOND_FACTOR
    owner_kind: str = RESIDENT
    owner_id: str | None = None      # SECOND_FACTOR: whose second factor this must be


@dataclass(frozen=True)
class PasskeyUsed:
    passkey: Passkey
    user_verified: bool


async def verify_passkey(cmd: VerifyPasskey, uow, rp: RelyingParty) -> PasskeyUsed:
    """An assertion (s. 7.2): the challenge was issued here for this purpose and is used now;
    the credential is known and belongs to an owner of the expected kind (and to the expected
    owner at the second step); origin, RP ID hash, user presence (and verification to sign in
    without a password), the signature with the stored public key, and the signature counter.
    The counter and "last used" are updated in the same transaction.

    A refused response of a resident's sign-in (or second step) is on the record (issue 20):
    ``login_failed`` with reason ``passkey_refused``, naming the resident when the credential
    (or, at the second step, the session) identifies one, so it is in their sign-in history
    and in the login failure metric like a wrong password. Agents' refusals are the counter
    console's own events."""
    async with uow:
        try:
            return await _verified(cmd, uow, rp, utcnow())
        except PasskeyRefused:
            if cmd.owner_kind == RESIDENT:
                uow.add_event(LoginFailed(reason=PASSKEY_REFUSED, resident_id=await _resident_named(cmd, uow)))
                await uow.commit()
            raise


PASSKEY_REFUSED = "passkey_refused"


async def _resident_named(cmd: VerifyPasskey, uow) -> str | None:
    """Whose sign-in was refused: the session's resident at the second step, else the
    resident the credential belongs to (None when it is no resident's, or unreadable)."""
    if cmd.owner_id:
        return cmd.owner_id
    try:
        passkey = await uow.passkeys.get(_credential_id_of(cmd.credential))
    except PasskeyRefused:
        return None
    return passkey.owner_id if passkey is not None and passkey.owner_kind == RESIDENT else None


async def _verified(cmd: VerifyPasskey, uow, rp: RelyingParty, now: dt.datetime) -> PasskeyUsed:
    challenge = _challenge_of(cmd.credential)
    credential_id = _credential_id_of(cmd.credential)
    subject = f"{cmd.owner_kind}:{cmd.owner_id}" if cmd.owner_id else None
    if not await uow.webauthn_challenges.take(challenge, cmd.purpose, subject, now):
        await uow.commit()
        raise PasskeyRefused("challenge")
    await uow.commit()  # used, whatever comes next
    passkey = await uow.passkeys.get(credential_id)
    if passkey is None:
        raise PasskeyRefused("unknown_credential")
    if passkey.owner_kind != cmd.owner_kind or (cmd.owner_id and passkey.owner_id != cmd.owner_id):
        raise PasskeyRefused("not_yours")
    try:
        verified = verify_authentication_response(
            credential=cmd.credential, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count, require_user_verification=cmd.purpose == SIGN_IN)
    except WebAuthnException as error:
        reason = _reason(str(error))
        if reason == "counter":
            # WebAuthn L3 s. 6.1.1: a counter that went back means two copies of the key.
            log.warning("passkey signature counter did not increase: possible clone",
                        extra={"owner_kind": passkey.owner_kind})
        raise PasskeyRefused(reason, str(error)) from None
    if not await uow.passkeys.used(passkey.credential_id, passkey.sign_count, verified.new_sign_count, now):
        raise PasskeyRefused("counter")
    await uow.commit()
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
    return PasskeyUsed(passkey=passkey, user_verified=verified.user_verified)


# -- management -----------------------------------------------------------------------------

async def passkeys_of(uow, owner_kind: str, owner_id: str) -> list[Passkey]:
    async with uow:
        return await uow.passkeys.of(owner_kind, owner_id)


@dataclass(frozen=True)
class RenamePasskey:
    owner_kind: str
    owner_id: str
    credential_id: str
    name: str


async def rename_passkey(cmd: RenamePasskey, uow) -> None:
    """A new name for one of the owner's passkeys (what tells them apart on the list).
    PasskeyRefused("name") for an unusable name; NotFound for a key that is not the owner's."""
    from services.common.errors import NotFound

    name = clean_name(cmd.name)
    if name is None:
        raise PasskeyRefused("name")
    async with uow:
        if not await uow.passkeys.rename(cmd.owner_kind, cmd.owner_id, cmd.credential_id, name):
            raise NotFound("passkey")
        await uow.commit()


@dataclass(frozen=True)
class RemovePasskey:
    owner_kind: str
    owner_id: str
    credential_id: str


async def remove_passkey(cmd: RemovePasskey, uow) -> None:
    """Remove one of the owner's passkeys — never the last way in: a resident without a
    password keeps their only passkey (FailedPrecondition LAST_WAY_IN); an agent always keeps
    the password and TOTP the CLI gave them. NotFound for a key that is not the owner's."""
    from services.common.errors import FailedPrecondition, NotFound

    async with uow:
        keys = await uow.passkeys.of(cmd.owner_kind, cmd.owner_id)
        if not any(p.credential_id == cmd.credential_id for p in keys):
            raise NotFound("passkey")
        if cmd.owner_kind == RESIDENT and len(keys) == 1:
            resident = await uow.residents.get(cmd.owner_id)
            if resident is None or resident.password_hash is None:
                raise FailedPrecondition("LAST_WAY_IN", "this passkey is the only way to sign in to this account")
        await uow.passkeys.remove(cmd.owner_kind, cmd.owner_id, cmd.credential_id)
        if cmd.owner_kind == RESIDENT:
            security_notices.passkey_removed(uow, await uow.residents.get(cmd.owner_id), utcnow())
        await uow.commit()


# -- reading the browser's JSON -------------------------------------------------------------

def _parsed(credential: str) -> dict:
    if not isinstance(credential, str) or not credential or len(credential) > MAX_CREDENTIAL_JSON:
        raise PasskeyRefused("malformed")
    try:
        value = json.loads(credential)
    except ValueError:
        raise PasskeyRefused("malformed") from None
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        raise PasskeyRefused("malformed")
    return value


def _challenge_of(credential: str) -> str:
    """The challenge the browser signed, from ``clientDataJSON`` (to find what we issued)."""
    client_data = _parsed(credential)["response"].get("clientDataJSON")
    try:
        data = json.loads(base64.urlsafe_b64decode(client_data + "=" * (-len(client_data) % 4)))
        challenge = data["challenge"]
    except (TypeError, ValueError, KeyError):
        raise PasskeyRefused("malformed") from None
    if not isinstance(challenge, str) or not 16 <= len(challenge) <= 100:
        raise PasskeyRefused("challenge")
    return challenge


def _credential_id_of(credential: str) -> str:
    value = _parsed(credential).get("id")
    if not isinstance(value, str) or not value or len(value) > 1400:
        raise PasskeyRefused("malformed")
    return value


def _transports(credential: str) -> list[str]:
    transports = _parsed(credential)["response"].get("transports") or []
    return [t for t in transports if isinstance(t, str) and len(t) <= 20][:8]


def _reason(message: str) -> str:
    """py_webauthn's message, as one of our stable reasons."""
    text = message.lower()
    for needle, reason in (("origin", "origin"), ("rp id", "rp_id"), ("sign count", "counter"),
                           ("challenge", "challenge"), ("user verification", "user_verification"),
                           ("verified", "user_verification"), ("signature", "signature"),
                           ("present", "user_presence")):
        if needle in text:
            return reason
    return "malformed"
