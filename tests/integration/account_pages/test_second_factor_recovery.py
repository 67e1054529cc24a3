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
