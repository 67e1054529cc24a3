"""Passkeys for residents (issue 20) on the real HTTP front, with a WebAuthn authenticator in
software (tests/integration/soft_authenticator.py): added in Mon compte after a recent
sign-in or the password, used to sign in without a password and as the second step, listed
and removed (never the last way in); forged and misdirected responses refused with a
message the resident understands."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import text

from services.identity.domain.passkeys import RESIDENT
from tests.integration.account_pages.conftest import PASSWORD, hidden_fields, sign_in
from tests.integration.account_pages.test_front import add_resident
from tests.integration.account_pages.test_second_factor_recovery import _enrol_totp
from tests.integration.soft_authenticator import SoftAuthenticator


def _options(page: str, kind: str) -> str:
    match = re.search(r'data-passkey="' + kind + r'" data-options="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


def _removal(page: str, name: str | None = None) -> dict[str, str]:
    """The removal form's fields, choosing the passkey called ``name`` (else the first one)."""
    choices = re.findall(r'name="credential_id" id="([^"]+)" value="([^"]+)"', page)
    labels = dict(re.findall(r'<label for="(remove-[0-9]+)">([^<]+)</label>', page))
    chosen = next(v for i, v in choices if name is None or html.unescape(labels[i]) == name)
    return {**hidden_fields(page), "credential_id": chosen}


def _text(response: httpx.Response) -> str:
    return html.unescape(response.text)


async def _add_passkey(http: httpx.AsyncClient, soft: SoftAuthenticator, name: str = "Mon téléphone") -> None:
    page = await http.get("/account/security/passkeys/new")
    assert page.status_code == 200
    added = await http.post("/account/security/passkeys", data={
        **hidden_fields(page.text), "passkey_name": name, "credential": soft.create(_options(page.text, "register"))})
    assert added.status_code == 303 and added.headers["location"] == "/account/security?done=passkey_added", \
        _text(added)[-3000:]


async def _passkey_sign_in(http: httpx.AsyncClient, soft: SoftAuthenticator, next_url: str = "/account/profile",
                           **lie) -> httpx.Response:
    page = await http.get("/account/login", params={"next": next_url})
    return await http.post("/account/login/passkey", data={
        **hidden_fields(page.text), "credential": soft.get(_options(page.text, "sign-in"), **lie)})


async def _session_amr(front, http: httpx.AsyncClient) -> list[str]:
    import json

    from services.identity.oidc.tokens import secret_hash

    async with front.provider.uow_factory() as uow:
        session = await uow.sessions.by_secret_hash(secret_hash(http.cookies["mtlid_session"]))
    return list(session.amr) if not isinstance(session.amr, str) else json.loads(session.amr)


async def test_a_resident_adds_a_passkey_then_signs_in_with_it_without_a_password(front):
    email = "cle.acces@example.ca"
    await add_resident(front, email)
    soft = SoftAuthenticator(front.base)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        security = await http.get("/account/security")
        assert "Vous n'avez pas de clé d'accès." in _text(security)
        page = await http.get("/account/security/passkeys/new")
        # Signed in moments ago: no password asked again; the form is hidden until the script runs.
        assert 'name="passkey_password"' not in page.text and 'data-passkey="register"' in page.text
        assert '<script src="/static/passkeys.js" defer></script>' in page.text
        unnamed = await http.post("/account/security/passkeys", data={
            **hidden_fields(page.text), "passkey_name": "", "credential": soft.create(_options(page.text, "register"))})
        assert unnamed.status_code == 400 and "Donnez un nom à la clé" in _text(unnamed)
        await _add_passkey(http, soft)
        security = await http.get("/account/security")
        assert "Mon téléphone" in _text(security) and "Jamais utilisée" in _text(security)
        assert "Sur cet appareil ou cette clé de sécurité seulement" in _text(security)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        login = await http.get("/account/login", params={"next": "/account/profile"})
        assert 'autocomplete="username webauthn"' in login.text  # conditional UI
        assert 'name="password"' in login.text  # the password form still works without JavaScript
        signed = await _passkey_sign_in(http, soft)
        assert signed.status_code in (302, 303) and signed.headers["location"] == "/account/profile"
        # a user-verified, device-bound passkey: hwk, user presence, and two factors in one gesture
        assert await _session_amr(front, http) == ["hwk", "user", "mfa"]
        security = await http.get("/account/security")
        assert "Dernière utilisation le" in _text(security)


async def test_forged_and_misdirected_passkey_responses_are_refused(front):
    email = "cle.refusee@example.ca"
    await add_resident(front, email)
    soft = SoftAuthenticator(front.base)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        page = await http.get("/account/security/passkeys/new")
        options = _options(page.text, "register")
        # Registration: another origin, another RP ID, a challenge we never issued.
        for lie, message in (({"origin": "https://montreal.example"}, "autre site que montreal.ca"),
                             ({"rp_id": "montreal.example"}, "autre site que montreal.ca"),
                             ({"challenge": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}, "expiré ou a déjà servi")):
            page = await http.get("/account/security/passkeys/new")
            refused = await http.post("/account/security/passkeys", data={
                **hidden_fields(page.text), "passkey_name": "Clé", "credential": soft.create(
                    _options(page.text, "register"), **lie)})
            assert refused.status_code == 400 and message in _text(refused), (lie, _text(refused)[-2000:])
        # The challenge of a refused attempt is spent: the same response cannot be retried.
        page = await http.get("/account/security/passkeys/new")
        response = soft.create(_options(page.text, "register"))
        await _add_passkey_with(http, page.text, response)
        replay = await http.post("/account/security/passkeys", data={
            **hidden_fields(page.text), "passkey_name": "Clé", "credential": response})
        assert replay.status_code == 400 and "expiré ou a déjà servi" in _text(replay)
        assert options != _options(page.text, "register")
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        cases = [({"origin": "https://montreal.example"}, "autre site que montreal.ca"),
                 ({"rp_id": "montreal.example"}, "autre site que montreal.ca"),
                 ({"challenge": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}, "expiré ou a déjà servi"),
                 ({"forge": True}, "n'a pas pu être vérifiée")]
        for lie, message in cases:
            refused = await _passkey_sign_in(http, soft, **lie)
            assert refused.status_code == 400 and message in _text(refused), (lie, _text(refused)[-2000:])
            assert 'href="#passkey"' in refused.text and 'id="passkey"' in refused.text
            assert "mtlid_session" not in refused.headers.get("set-cookie", "")
        malformed = await http.post("/account/login/passkey", data={
            **hidden_fields((await http.get("/account/login")).text), "credential": "{not json"})
        assert malformed.status_code == 400 and "n'a pas pu être vérifiée" in _text(malformed)
        # A valid assertion replayed: its challenge is spent.
        login = await http.get("/account/login", params={"next": "/account/profile"})
        assertion = soft.get(_options(login.text, "sign-in"))
        first = await http.post("/account/login/passkey", data={**hidden_fields(login.text), "credential": assertion})
        assert first.status_code in (302, 303)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        login = await http.get("/account/login", params={"next": "/account/profile"})
        replay = await http.post("/account/login/passkey", data={**hidden_fields(login.text), "credential": assertion})
        assert replay.status_code == 400 and "expiré ou a déjà servi" in _text(replay)
        # A signature counter that goes back: a cloned key (WebAuthn L3 s. 6.1.1).
        cloned = await _passkey_sign_in(http, soft, sign_count=1)
        assert cloned.status_code == 400 and "semble avoir été copiée" in _text(cloned)
        # Another site's passkey, unknown here.
        stranger = await _passkey_sign_in(http, SoftAuthenticator(front.base))
        assert stranger.status_code == 400 and "n'est liée à aucun compte" in _text(stranger)


async def _add_passkey_with(http: httpx.AsyncClient, page: str, response: str) -> None:
    added = await http.post("/account/security/passkeys", data={
        **hidden_fields(page), "passkey_name": "Clé", "credential": response})
    assert added.status_code == 303, _text(added)[-2000:]


async def test_after_five_minutes_a_passkey_is_added_or_removed_only_with_the_password(front):
    email = "cinq.minutes@example.ca"
    resident_id = await add_resident(front, email)
    soft = SoftAuthenticator(front.base)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _add_passkey(http, soft, "Clé USB")
        async with front.provider.uow_factory() as uow:
            await uow.session.execute(text("UPDATE sso_sessions SET auth_time = auth_time - 600 "
                                           "WHERE resident_id = :r"), {"r": resident_id})
            await uow.commit()
        page = await http.get("/account/security/passkeys/new")
        assert 'name="passkey_password"' in page.text
        alone = await http.post("/account/security/passkeys", data={
            **hidden_fields(page.text), "passkey_name": "Autre", "credential": SoftAuthenticator(front.base).create(
                _options(page.text, "register"))})
        assert alone.status_code == 400 and 'id="passkey_password-error"' in alone.text
        security = await http.get("/account/security")
        wrong = await http.post("/account/security/passkeys/remove", data={
            **_removal(security.text), "remove_passkey_password": "not the password"})
        assert wrong.status_code == 400 and "Ce n'est pas votre mot de passe actuel." in _text(wrong)
        removed = await http.post("/account/security/passkeys/remove", data={
            **_removal(security.text), "remove_passkey_password": PASSWORD})
        assert removed.status_code == 303 and removed.headers["location"] == "/account/security?done=passkey_removed"
        assert "Clé USB" not in _text(await http.get("/account/security"))


async def test_the_last_way_in_cannot_be_removed(front):
    """A resident without a password (enrolled at a counter) who signs in with a passkey keeps
    their only passkey; with a second one, either can go."""
    email = "sans.mot.de.passe@example.ca"
    resident_id = await add_resident(front, email)
    first_key, second_key = SoftAuthenticator(front.base), SoftAuthenticator(front.base, synced=True)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _add_passkey(http, first_key, "Première")
    async with front.provider.uow_factory() as uow:
        await uow.session.execute(text("UPDATE residents SET password_hash = NULL WHERE resident_id = :r"),
                                  {"r": resident_id})
        await uow.commit()
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        assert (await _passkey_sign_in(http, first_key)).status_code in (302, 303)
        security = await http.get("/account/security")
        refused = await http.post("/account/security/passkeys/remove", data=_removal(security.text))
        assert refused.status_code == 400 and "C'est votre seul moyen de vous connecter" in _text(refused)
        async with front.provider.uow_factory() as uow:
            assert len(await uow.passkeys.of(RESIDENT, resident_id)) == 1
        await _add_passkey(http, second_key, "Deuxième")
        security = await http.get("/account/security")
        assert "Synchronisée" in _text(security)
        removed = await http.post("/account/security/passkeys/remove", data=_removal(security.text, "Première"))
        assert removed.status_code == 303
        async with front.provider.uow_factory() as uow:
            left = await uow.passkeys.of(RESIDENT, resident_id)
        assert [k.name for k in left] == ["Deuxième"]
    # the synced passkey signs in as swk
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        assert (await _passkey_sign_in(http, second_key)).status_code in (302, 303)
        assert await _session_amr(front, http) == ["swk", "user", "mfa"]


async def test_a_passkey_is_a_second_factor_after_the_password(front):
    email = "deuxieme.facteur@example.ca"
    await add_resident(front, email)
    soft = SoftAuthenticator(front.base, user_verifying=False)  # a plain security key: presence only
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _enrol_totp(http)
        await _add_passkey(http, soft, "Clé de sécurité")
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        # Without user verification it cannot replace the password...
        refused = await _passkey_sign_in(http, soft)
        assert refused.status_code == 400 and "n'a pas vérifié que c'est bien vous" in _text(refused)
        # ...but after the password it is the second step.
        first = await sign_in(http, email=email, next_url="/account/profile")
        challenge = await http.get(first.headers["location"])
        assert 'data-passkey="second-factor"' in challenge.text
        lost = await http.get(first.headers["location"].replace("second-factor", "lost-phone"))
        assert "Avec une clé d'accès" in _text(lost) and 'data-passkey="second-factor"' in lost.text
        challenge = await http.get(first.headers["location"])
        done = await http.post("/account/login/second-factor/passkey", data={
            **hidden_fields(challenge.text), "credential": soft.get(_options(challenge.text, "second-factor"))})
        assert done.status_code in (302, 303) and done.headers["location"] == "/account/profile"
        assert await _session_amr(front, http) == ["pwd", "hwk", "user", "mfa"]
    # A passkey this resident does not have is not their second factor.
    other = SoftAuthenticator(front.base)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        first = await sign_in(http, email=email, next_url="/account/profile")
        challenge = await http.get(first.headers["location"])
        stranger = await http.post("/account/login/second-factor/passkey", data={
            **hidden_fields(challenge.text), "credential": other.get(_options(challenge.text, "second-factor"))})
        assert stranger.status_code == 400 and "n'est liée à aucun compte" in _text(stranger)


async def test_a_passkey_is_renamed(front):
    email = "renommer.cle@example.ca"
    await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _add_passkey(http, SoftAuthenticator(front.base), "Ancien nom")
        security = await http.get("/account/security")
        chosen = re.search(r'<option value="([^"]+)">Ancien nom</option>', security.text).group(1)
        empty = await http.post("/account/security/passkeys/rename", data={
            **hidden_fields(security.text), "rename_credential_id": chosen, "passkey_new_name": " "})
        assert empty.status_code == 400 and 'id="passkey_new_name-error"' in empty.text
        stranger = await http.post("/account/security/passkeys/rename", data={
            **hidden_fields(security.text), "rename_credential_id": "not-mine", "passkey_new_name": "X"})
        assert stranger.status_code == 400 and "pas dans votre compte" in _text(stranger)
        renamed = await http.post("/account/security/passkeys/rename", data={
            **hidden_fields(security.text), "rename_credential_id": chosen, "passkey_new_name": "Clé du bureau"})
        assert renamed.status_code == 303 and renamed.headers["location"] == "/account/security?done=passkey_renamed"
        text = _text(await http.get("/account/security"))
        assert "Clé du bureau" in text and "Ancien nom" not in text


async def test_a_refused_passkey_sign_in_is_in_the_residents_history(front):
    """Issue 20: a passkey response that does not verify is a refused sign-in the resident
    reads in "Historique de connexion" (how: a passkey; why: refused), like a wrong password."""
    email = "cle.historique@example.ca"
    await add_resident(front, email)
    soft = SoftAuthenticator(front.base)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _add_passkey(http, soft)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        refused = await _passkey_sign_in(http, soft, forge=True)
        assert refused.status_code == 400
        signed = await _passkey_sign_in(http, soft, next_url="/account/sign-ins")
        assert signed.status_code in (302, 303)
        history = _text(await http.get("/account/sign-ins"))
    assert "clé d'accès refusée" in history and "clé d'accès sur l'appareil" in history
