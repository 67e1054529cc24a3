"""A second factor a resident can recover from (issue 20), on the real HTTP front: the TOTP
enrolment's QR code, recovery codes (shown once, stored hashed, single use, regenerated
after re-authentication), removing the factor, and "I lost my phone" at the second step."""

from __future__ import annotations

import base64
import html
import re
import time

import httpx
import segno

from services.identity.domain import totp
from tests.integration.account_pages.conftest import PASSWORD, hidden_fields, sign_in
from tests.integration.account_pages.test_front import add_resident


def _shown_key(page: str) -> bytes:
    text = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _modules(svg: str) -> str:
    """The dark modules' path (the light background, when drawn, is another path)."""
    return re.search(r'<path [^>]*stroke="#000"[^>]*d="([^"]+)"', svg).group(1)


async def _enrol_totp(http: httpx.AsyncClient) -> bytes:
    page = await http.get("/account/security")
    start = await http.post("/account/security/totp", data=hidden_fields(page.text))
    secret = _shown_key(start.text)
    confirmed = await http.post("/account/security/totp/confirm", data={
        **hidden_fields(start.text), "code": totp.totp(secret, time.time()), "totp_current_password": PASSWORD})
    assert confirmed.status_code == 303, confirmed.text
    return secret


async def test_totp_enrolment_shows_the_key_as_a_qr_code_and_as_text(front):
    await add_resident(front, "qr@example.ca")
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email="qr@example.ca")
        page = await http.get("/account/security")
        start = await http.post("/account/security/totp", data=hidden_fields(page.text))
        assert start.status_code == 200
        svg = re.search(r"<svg [^>]*>.*?</svg>", start.text, re.S).group(0)
        assert 'role="img"' in svg and 'aria-label="Code QR de la clé de votre application' in html.unescape(svg)
        assert "<img" not in start.text  # inline: no image request, nothing for a script to draw
        # The QR code holds the otpauth:// URI of the key shown as text beside it: the same
        # modules as segno draws for that URI (a scanner reads what the resident could type).
        secret = _shown_key(start.text)
        uri = totp.provisioning_uri(secret, "qr@example.ca")
        expected = segno.make(uri, error="m", micro=False).svg_inline(scale=4, lineclass=None)
        drawn = _modules(svg)
        assert drawn == _modules(expected)
        assert html.escape(uri) in start.text or uri.replace("&", "&amp;") in start.text
        # A mistyped code keeps the same key and QR code on the page (no new enrolment).
        wrong = await http.post("/account/security/totp/confirm", data={
            **hidden_fields(start.text), "code": "000000", "totp_current_password": PASSWORD})
        assert wrong.status_code == 400 and _shown_key(wrong.text) == secret
        assert _modules(re.search(r"<svg [^>]*>.*?</svg>", wrong.text, re.S).group(0)) == drawn


CODE = re.compile(r"<li><code>([2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5})</code></li>")


async def _new_codes(http: httpx.AsyncClient) -> list[str]:
    page = await http.get("/account/security")
    shown = await http.post("/account/security/recovery-codes", data={
        **hidden_fields(page.text), "recovery_current_password": PASSWORD})
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"].startswith("no-store")
    return CODE.findall(shown.text)


async def _second_step(http: httpx.AsyncClient, email: str) -> str:
    """A new browser that typed the right password: at the second step, the lost-phone page."""
    first = await sign_in(http, email=email, next_url="/account/profile")
    assert first.headers["location"].startswith("/account/login/second-factor?interaction=")
    challenge = await http.get(first.headers["location"])
    link = re.search(r'<a href="(/account/login/lost-phone\?interaction=[^"]+)">J&#39;ai perdu mon téléphone</a>',
                     challenge.text)
    assert link, challenge.text
    lost = await http.get(html.unescape(link.group(1)))
    assert lost.status_code == 200 and 'name="recovery_code"' in lost.text
    assert "comptoir Accès Montréal" in lost.text  # the third way: the counter
    return lost.text


async def test_recovery_codes_are_shown_once_stored_hashed_and_each_used_once(front):
    from sqlalchemy import text

    email = "recuperation@example.ca"
    resident_id = await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        page = await http.get("/account/security")
        # No second factor yet: nothing to recover, no codes offered.
        assert "recovery-codes" not in page.text
        await _enrol_totp(http)
        page = await http.get("/account/security")
        assert "Codes de récupération encore utilisables : 0 sur 10." in html.unescape(page.text)
        # Re-authentication first: no password, then a wrong one, are refused with a message.
        alone = await http.post("/account/security/recovery-codes", data=hidden_fields(page.text))
        assert alone.status_code == 400 and 'id="recovery_current_password-error"' in alone.text
        wrong = await http.post("/account/security/recovery-codes", data={
            **hidden_fields(page.text), "recovery_current_password": "not the password"})
        assert wrong.status_code == 400 and "Ce n'est pas votre mot de passe actuel." in html.unescape(wrong.text)
        codes = await _new_codes(http)
        assert len(codes) == 10 and len(set(codes)) == 10
        page = await http.get("/account/security")
        assert "Codes de récupération encore utilisables : 10 sur 10." in html.unescape(page.text)
        assert not any(code in page.text for code in codes)  # shown once, never again
    async with front.provider.uow_factory() as uow:
        rows = (await uow.session.execute(text("SELECT code_hash FROM recovery_codes WHERE resident_id = :r"),
                                          {"r": resident_id})).scalars().all()
    assert len(rows) == 10
    stored = " ".join(rows)
    assert not any(c.replace("-", "") in stored.upper() or c in stored for c in codes)

    # "I lost my phone": malformed, then wrong codes are refused with a clear message.
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        lost = await _second_step(http, email)
        malformed = await http.post("/account/login/lost-phone", data={**hidden_fields(lost), "recovery_code": "1234"})
        assert malformed.status_code == 400 and 'id="recovery_code-error"' in malformed.text
        assert "10 lettres et chiffres" in malformed.text and 'aria-invalid="true"' in malformed.text
        wrong = await http.post("/account/login/lost-phone", data={**hidden_fields(lost),
                                                                   "recovery_code": "ZZZZZ-ZZZZZ"})
        assert wrong.status_code == 400 and "déjà servi" in html.unescape(wrong.text)
        # A code typed in lower case and without its dash is the same code.
        ok = await http.post("/account/login/lost-phone", data={
            **hidden_fields(lost), "recovery_code": codes[0].replace("-", " ").lower()})
        assert ok.status_code in (302, 303) and ok.headers["location"] == "/account/profile"
        page = await http.get("/account/security")
        assert "Codes de récupération encore utilisables : 9 sur 10." in html.unescape(page.text)
    # Used once: the same code is refused in another browser.
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        lost = await _second_step(http, email)
        reused = await http.post("/account/login/lost-phone", data={**hidden_fields(lost), "recovery_code": codes[0]})
        assert reused.status_code == 400 and "déjà servi" in html.unescape(reused.text)
        # New codes replace every old one: an unused old code stops working.
        ok = await http.post("/account/login/lost-phone", data={**hidden_fields(lost), "recovery_code": codes[1]})
        assert ok.status_code in (302, 303)
        fresh = await _new_codes(http)
        assert not set(fresh) & set(codes)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        lost = await _second_step(http, email)
        old = await http.post("/account/login/lost-phone", data={**hidden_fields(lost), "recovery_code": codes[2]})
        assert old.status_code == 400
        ok = await http.post("/account/login/lost-phone", data={**hidden_fields(lost), "recovery_code": fresh[0]})
        assert ok.status_code in (302, 303)


async def test_the_second_factor_is_replaced_or_removed_only_after_the_password(front):
    email = "telephone@example.ca"
    await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        old = await _enrol_totp(http)
        # A new phone: the confirmed new key replaces the old one.
        page = await http.get("/account/security")
        assert "Configurer un nouveau téléphone" in page.text
        new = await _enrol_totp(http)
        assert new != old
        page = await http.get("/account/security")
        for given in ({}, {"remove_current_password": "not the password"}):
            refused = await http.post("/account/security/totp/remove", data={**hidden_fields(page.text), **given})
            assert refused.status_code == 400 and 'id="remove_current_password-error"' in refused.text
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        first = await sign_in(http, email=email, next_url="/account/profile")
        challenge = await http.get(first.headers["location"])
        stale = await http.post("/account/login/second-factor", data={
            **hidden_fields(challenge.text), "code": totp.totp(old, time.time() + 30)})
        assert stale.status_code == 400  # the old phone's codes no longer work
        ok = await http.post("/account/login/second-factor", data={
            **hidden_fields(challenge.text), "code": totp.totp(new, time.time() + 30)})
        assert ok.headers["location"] == "/account/profile"
        page = await http.get("/account/security")
        removed = await http.post("/account/security/totp/remove", data={
            **hidden_fields(page.text), "remove_current_password": PASSWORD})
        assert removed.status_code == 303 and removed.headers["location"] == "/account/security?done=totp_removed"
        page = await http.get("/account/security")
        assert "Activer la vérification en deux étapes" in page.text
    # The password alone signs in again (it was never removed: never the last way in).
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        first = await sign_in(http, email=email, next_url="/account/profile")
        assert first.headers["location"] == "/account/profile"


async def test_the_new_forms_refuse_a_post_without_the_csrf_token(http):
    await sign_in(http)
    for path in ("/account/security/recovery-codes", "/account/security/totp/remove", "/account/login/lost-phone"):
        missing = await http.post(path, data={"recovery_current_password": PASSWORD,
                                              "remove_current_password": PASSWORD, "recovery_code": "ABCDE-FGHJK"})
        assert missing.status_code == 403, path


async def test_the_second_step_cannot_be_skipped(front):
    """A resident with two-step verification who typed only the password is not in Mon compte
    yet: every page leads back to the second step."""
    email = "pas.de.raccourci@example.ca"
    await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        await _enrol_totp(http)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        first = await sign_in(http, email=email, next_url="/account/profile")
        assert first.headers["location"].startswith("/account/login/second-factor?")
        skipped = await http.get("/account/security")
        assert skipped.status_code == 303, skipped.text[:200]
