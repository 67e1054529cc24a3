"""The login and second-factor interactions (OIDC Core s. 3.1.2.3: the OP authenticates the
resident). Passwords and TOTP codes are checked by CORE's handlers (argon2id, throttling,
RFC 6238); this module opens or upgrades the SSO session and resumes the authorization.

Each function returns a ``WireResponse``: a page to render (with a stable error reason for
the message catalogue), or — once the resident is signed in — the authorization's next step
with the session cookie (a password login resumes it at once; the second steps redirect back
to ``/authorize/resume``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from services.identity.domain.events import LoginSucceeded
from services.identity.domain.sign_ins import signing_in_to
from services.identity.oidc import interaction
from services.identity.oidc.authorize import error_page, handle_authorization
from services.identity.oidc.errors import UntrustedRedirect
from services.identity.oidc.sessions import SESSION_COOKIE, add_second_factor, find_session, open_session
from services.identity.oidc.tokens import new_id
from services.identity.oidc.wire import WireResponse

MAX_EMAIL, MAX_PASSWORD, MAX_CODE = 254, 1024, 12
MAX_RECOVERY_CODE = 40  # ten characters, with whatever spaces and dashes the resident typed


def _resume(token: str) -> str:
    return "/authorize/resume?" + urlencode({"interaction": token})


def _check(provider, token: str | None) -> str | None:
    """The reason the interaction is unusable, or None."""
    try:
        interaction.unseal(provider.config.interaction_key, token)
    except interaction.InteractionInvalid as exc:
        return str(exc)
    return None


async def _client(provider, token: str) -> tuple[str | None, str | None]:
    """The service asking (id, name); (None, None) for Mon compte's own sign-in."""
    params, _ = interaction.unseal(provider.config.interaction_key, token)
    client_id = (params.get("client_id") or [""])[0]
    # a point read (cached on PostgreSQL until the client changes), no unit of work
    client = await provider.reads.client(client_id) if client_id and len(client_id) <= 64 else None
    return (client.client_id, client.name) if client is not None else (None, None)


async def _client_name(provider, token: str) -> str:
    """The name of the service asking, so the resident knows where they are signing in."""
    return (await _client(provider, token))[1] or ""


def _login_hint(provider, token: str) -> str:
    """OIDC Core s. 3.1.2.1 ``login_hint``: prefill the email the client already knows."""
    params, _ = interaction.unseal(provider.config.interaction_key, token)
    hint = (params.get("login_hint") or [""])[0]
    return hint if "@" in hint and len(hint) <= MAX_EMAIL else ""


async def login_page(provider, token: str | None, *, email: str = "", errors: dict[str, str] | None = None,
                     status: int = 200, retry_after: int | None = None) -> WireResponse:
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    headers = [("Cache-Control", "no-store")]
    if retry_after:
        headers.append(("Retry-After", str(int(retry_after))))  # RFC 9110 s. 10.2.3, with 429
    return WireResponse(status, "", headers,
                        page=("login.html", {"interaction": token, "email": email or _login_hint(provider, token),
                                             "errors": errors or {},
                                             "retry_after": retry_after,
                                             "client_name": await _client_name(provider, token),
                                             "passkey_options": await passkey_sign_in_options(provider)}))


async def submit_login(provider, token: str | None, email: str, password: str, remote_addr: str, *,
                       resume: bool = True) -> WireResponse:
    """``resume=False``: the interaction is not an authorization request (Mon compte's own
    sign-in seals where to go next): answer the redirect to ``/authorize/resume``, which the
    caller replaces."""
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    email, password = (email or "").strip(), password or ""
    errors = {}
    if not email:
        errors["email"] = "email_required"
    elif len(email) > MAX_EMAIL or ("@" not in email and not _is_citizen_number(email)):
        # An e-mail address, or the citizen number of a resident enrolled at a counter without one
        errors["email"] = "email_invalid"
    if not password:
        errors["password"] = "password_required"
    elif len(password) > MAX_PASSWORD:
        errors["password"] = "invalid_credentials"
    if errors:
        return await login_page(provider, token, email=email, errors=errors, status=400)
    from services.identity.service_layer.authentication import LoginRefused

    session_id = new_id()
    opened: list[str] = []

    async def open_signed_in_session(uow, who) -> None:
        # in the login's own transaction (issue 24): the session exists iff the login committed
        _session, secret = await open_session(uow, provider.config, who.resident_id, int(who.level), ("pwd",),
                                              session_id)
        if who.has_totp:
            # CORE's authenticate leaves login_succeeded to verify_totp for residents with a
            # second factor; here the password sufficed for what the client asked (no step-up).
            uow.add_event(LoginSucceeded(resident_id=who.resident_id, session_id=session_id, amr=("pwd",)))
        opened.append(secret)

    # the sign-in history names the service this login is for (domain/sign_ins.py)
    with signing_in_to(*await _client(provider, token)):
        try:
            await provider.authenticator.password(email, password, remote_addr, session_id,
                                                  then=open_signed_in_session)
        except LoginRefused as refused:
            status = 429 if refused.reason == "throttled" else 400
            return await login_page(provider, token, email=email, errors={"form": refused.reason}, status=status,
                                    retry_after=getattr(refused, "retry_after", None))
    # The authorization resumes here, as ``/authorize/resume`` would with this interaction and
    # the session just opened (issue 24: one request less per sign-in, as after the consent
    # form): the browser goes on to the consent page, the second factor or the client.
    if resume:
        params, started_at = interaction.unseal(provider.config.interaction_key, token)
        response = await handle_authorization(provider, params, opened[0], started_at)
    else:
        response = WireResponse.redirect(_resume(token))
    response.cookies.append((SESSION_COOKIE, opened[0], provider.config.session_ttl))
    return response


def _is_citizen_number(text: str) -> bool:
    from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber

    try:
        CitizenNumber.parse(text)
    except InvalidCitizenNumber:
        return False
    return True


def second_factor_page(provider, token: str | None, *, errors: dict[str, str] | None = None,
                       status: int = 200) -> WireResponse:
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    return WireResponse(status, "", [("Cache-Control", "no-store")],
                        page=("second_factor.html", {"interaction": token, "errors": errors or {}}))


async def submit_second_factor(provider, token: str | None, session_secret: str | None, code: str,
                               remote_addr: str) -> WireResponse:
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    code = (code or "").replace(" ", "")
    if not code.isdigit() or len(code) > MAX_CODE:
        return second_factor_page(provider, token, errors={"code": "code_invalid"}, status=400)
    return await _second_step(provider, token, session_secret, provider.authenticator.totp, code, remote_addr,
                              second_factor_page)


def lost_phone_page(provider, token: str | None, *, errors: dict[str, str] | None = None,
                    status: int = 200) -> WireResponse:
    """"J'ai perdu mon téléphone / I lost my phone", from the second step: a recovery code in
    place of the application's code, or the counter (which re-verifies identity with a
    document and turns the second factor off)."""
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    return WireResponse(status, "", [("Cache-Control", "no-store")],
                        page=("lost_phone.html", {"interaction": token, "errors": errors or {}}))


async def submit_recovery_code(provider, token: str | None, session_secret: str | None, code: str,
                               remote_addr: str) -> WireResponse:
    """A recovery code at the second step (``second_factor.use_recovery_code``): the session
    gains ``otp`` and ``mfa`` exactly as with the application's code."""
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    from services.identity.domain.recovery_codes import normalized

    code = (code or "").strip()
    if len(code) > MAX_RECOVERY_CODE or normalized(code) is None:
        return lost_phone_page(provider, token, errors={"recovery_code": "recovery_code_invalid"}, status=400)
    return await _second_step(provider, token, session_secret, provider.authenticator.recovery_code, code,
                              remote_addr, lost_phone_page, field="recovery_code", wrong="recovery_code_wrong")


async def _second_step(provider, token: str, session_secret: str | None, check, code: str, remote_addr: str,
                       again, *, field: str = "code", wrong: str = "code_wrong") -> WireResponse:
    """The second factor checked by ``check`` (CORE's handler), then the session steps up."""
    async with provider.uow_factory() as uow:
        session = await find_session(uow, session_secret)
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    from services.common.errors import ServiceError
    from services.identity.service_layer.authentication import LoginRefused

    try:
        with signing_in_to(*await _client(provider, token)):
            ok = await check(session.resident_id, code, remote_addr, session.session_id)
    except LoginRefused as refused:
        return again(provider, token, errors={field: refused.reason}, status=429)
    except ServiceError:
        # e.g. no second factor enrolled: nothing to check, continue with what the session has
        return WireResponse.redirect(_resume(token))
    if not ok:
        return again(provider, token, errors={field: wrong}, status=400)
    async with provider.uow_factory() as uow:
        resident = await uow.residents.get(session.resident_id)
        await add_second_factor(uow, session, int(resident.level))
        await uow.commit()
    return WireResponse.redirect(_resume(token))


# -- passkeys (WebAuthn; service_layer/passkeys.py) -----------------------------------------

def relying_party(provider):
    from services.identity.service_layer.passkeys import RelyingParty

    return RelyingParty.of_issuer(provider.config.issuer, provider.config.interaction_key)


async def passkey_sign_in_options(provider) -> str:
    """The options of a passkey sign-in, for the login page (conditional UI and a button)."""
    from services.identity.service_layer import passkeys

    return await passkeys.authentication_options(provider.uow_factory(), relying_party(provider), passkeys.SIGN_IN)


async def passkey_second_factor_options(provider, session_secret: str | None) -> str | None:
    """The options of a passkey as the second step, when the session's resident has one."""
    from services.identity.domain.passkeys import RESIDENT
    from services.identity.service_layer import passkeys

    async with provider.uow_factory() as uow:
        session = await find_session(uow, session_secret)
        if session is None or not await uow.passkeys.of(RESIDENT, session.resident_id):
            return None
    return await passkeys.authentication_options(provider.uow_factory(), relying_party(provider),
                                                 passkeys.SECOND_FACTOR, RESIDENT, session.resident_id)


async def submit_passkey(provider, token: str | None, credential: str, remote_addr: str) -> WireResponse:
    """Sign in with a passkey, without a password (WebAuthn L3 s. 7.2, user verification
    required): a new session whose ``amr`` says how (``domain.passkeys.amr_for``)."""
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    from services.identity.domain.passkeys import RESIDENT, amr_for
    from services.identity.service_layer import passkeys

    try:
        used = await passkeys.verify_passkey(passkeys.VerifyPasskey(credential or "", passkeys.SIGN_IN, RESIDENT),
                                             provider.uow_factory(), relying_party(provider))
    except passkeys.PasskeyRefused as refused:
        return await login_page(provider, token, errors={"passkey": passkey_error(refused.reason)}, status=400)
    async with provider.uow_factory() as uow:
        resident = await uow.residents.get(used.passkey.owner_id)
    if resident is None or resident.disabled:
        return await login_page(provider, token, errors={"passkey": "passkey_refused"}, status=400)
    amr = amr_for(used.passkey, used.user_verified)
    session_id = new_id()
    with signing_in_to(*await _client(provider, token)):
        async with provider.uow_factory() as uow:
            session, secret = await open_session(uow, provider.config, resident.resident_id, int(resident.level),
                                                 amr, session_id)
            uow.add_event(LoginSucceeded(resident_id=resident.resident_id, session_id=session_id, amr=amr))
            await uow.commit()
    response = WireResponse.redirect(_resume(token))
    response.cookies.append((SESSION_COOKIE, secret, provider.config.session_ttl))
    return response


async def submit_passkey_second_factor(provider, token: str | None, session_secret: str | None, credential: str,
                                       remote_addr: str) -> WireResponse:
    """A passkey of the session's resident as the second step: the session gains the key's
    methods and ``mfa``."""
    problem = _check(provider, token)
    if problem:
        return error_page(UntrustedRedirect("interaction_expired", problem))
    from services.identity.domain.passkeys import RESIDENT, amr_for
    from services.identity.service_layer import passkeys

    async with provider.uow_factory() as uow:
        session = await find_session(uow, session_secret)
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    try:
        used = await passkeys.verify_passkey(passkeys.VerifyPasskey(
            credential or "", passkeys.SECOND_FACTOR, RESIDENT, session.resident_id),
            provider.uow_factory(), relying_party(provider))
    except passkeys.PasskeyRefused as refused:
        again = second_factor_page(provider, token, errors={"passkey": passkey_error(refused.reason)}, status=400)
        again.page[1]["passkey_options"] = await passkey_second_factor_options(provider, session_secret)
        return again
    methods = amr_for(used.passkey, True)[:2]  # hwk|swk, user; add_second_factor adds mfa
    with signing_in_to(*await _client(provider, token)):
        async with provider.uow_factory() as uow:
            resident = await uow.residents.get(session.resident_id)
            session = await add_second_factor(uow, session, int(resident.level), methods)
            uow.add_event(LoginSucceeded(resident_id=session.resident_id, session_id=session.session_id,
                                         amr=tuple(session.amr)))
            await uow.commit()
    return WireResponse.redirect(_resume(token))


def passkey_error(reason: str) -> str:
    """The message key for a refused passkey (``service_layer.passkeys.PasskeyRefused``)."""
    known = {"challenge": "passkey_challenge", "unknown_credential": "passkey_unknown", "not_yours": "passkey_unknown",
             "origin": "passkey_origin", "rp_id": "passkey_origin", "counter": "passkey_counter",
             "user_verification": "passkey_user_verification"}
    return known.get(reason, "passkey_refused")
