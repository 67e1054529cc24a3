""""This was not me" (issue 21), as the resident does it from Mon compte against the real
front: the montreal.ca relying party (authlib's client) holds a refresh token from another
device; after the report every session is over (this one too), the refresh token is
refused, the old password no longer signs in until a new one is chosen with the mailed code,
and the report is recorded. The sign-in history (issue 15) names a session through
``?session=``; a session that is not the resident's is refused and changes nothing."""

from __future__ import annotations

import asyncio
import re


from services.identity.adapters.orm import SecurityReportRow
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.http.account.suspicious import not_me_url
from tests.integration.identity_oidc.conftest import SECRET, Browser, add_resident
from tests.integration.identity_oidc.test_account_closure import _events, _sign_in_to_account as _sign_in
from tests.integration.identity_oidc.flows import post_token, rp_client, tokens_for

NEW_PASSWORD = "une phrase toute neuve et à moi"


async def _session_ids(front, resident_id: str) -> list[str]:
    from services.identity.oidc.records import utcnow

    async with front.uow() as uow:
        return [s.session_id for s in await uow.sessions.active_for(resident_id, utcnow())]


async def test_this_was_not_me_ends_everything_and_asks_for_a_new_password(front):
    email = "pas.moi@example.ca"
    resident = await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    phone, laptop, later = Browser(front.base), Browser(front.base), Browser(front.base)
    client = rp_client(scope="openid offline_access")
    try:
        on_phone = await tokens_for(front, phone, client, email=email, scopes=["offline_access"])
        [phone_session] = await _session_ids(front, resident.resident_id)
        assert (await _sign_in(laptop, email)).headers["location"] == "/account"
        security = await laptop.get("/account/security")
        assert 'href="/account/security/not-me"' in security.text

        # The history's entry for the phone's sign-in leads here, naming it.
        confirm = await laptop.get(not_me_url(phone_session))
        assert confirm.status_code == 200 and f'value="{phone_session}"' in confirm.text
        done = await laptop.submit(confirm, "/account/security/not-me")
        assert done.status_code == 200 and "Votre compte est protégé" in done.text
        assert 'href="/account/password/forgot"' in done.text

        assert await _session_ids(front, resident.resident_id) == []          # every session, this one too
        assert (await laptop.get("/account")).status_code == 303
        refreshed = await post_token(front, {"grant_type": "refresh_token", "refresh_token": on_phone["refresh_token"]},
                                     auth=("montreal-ca", SECRET))
        assert refreshed.json()["error"] == "invalid_grant"
        [reported] = await _events(front, "suspicious_activity_reported", resident.resident_id)
        assert reported["session_id"] == phone_session and reported["sessions_ended"] == 2
        async with front.sessions() as session:
            row = await session.get(SecurityReportRow, reported["report_id"])
        assert row.resident_id == resident.resident_id and row.report_id in done.text

        # The old password alone no longer signs in (whoever knows it too is kept out).
        refused = await _sign_in(later, email)
        assert refused.status_code == 400 and "nouveau mot de passe" in refused.text
        assert "mtlid_session=" not in refused.headers.get("set-cookie", "")

        # A new password through the mailed code: then the resident is back.
        forgot = await later.get("/account/password/forgot")
        sent = await later.submit(forgot, "/account/password/forgot", email=email)
        code = None
        for _ in range(100):
            codes = [e["code"] for e in await _events(front, "password_reset_requested", resident.resident_id)]
            if codes:
                code = codes[-1]
                break
            await asyncio.sleep(0.02)  # the code is written after the answer
        assert code is not None
        reset = await later.submit(sent, "/account/password/reset", code=code, new_password=NEW_PASSWORD,
                                   new_password_confirm=NEW_PASSWORD)
        assert reset.status_code == 200
        assert (await _sign_in(later, email, NEW_PASSWORD)).headers["location"] == "/account"
    finally:
        for browser in (phone, laptop, later):
            await browser.close()
        await client.aclose()


async def test_a_session_that_is_not_mine_is_refused_and_changes_nothing(front):
    mine, theirs = "le.mien@example.ca", "le.leur@example.ca"
    me = await add_resident(front.uow, mine, LevelOfAssurance.SELF_ASSERTED, False)
    them = await add_resident(front.uow, theirs, LevelOfAssurance.SELF_ASSERTED, False)
    browser, other = Browser(front.base), Browser(front.base)
    try:
        await _sign_in(other, theirs)
        [their_session] = await _session_ids(front, them.resident_id)
        await _sign_in(browser, mine)
        confirm = await browser.get(not_me_url(their_session))
        refused = await browser.submit(confirm, "/account/security/not-me")
        assert refused.status_code == 400
        assert (await browser.get("/account")).status_code == 200          # nothing ended
        assert await _events(front, "suspicious_activity_reported", me.resident_id) == []
        long = await browser.submit(confirm, "/account/security/not-me", session_id="x" * 500)
        assert long.status_code == 400
        assert re.search(r"<html lang=\"fr\">", refused.text)
    finally:
        await browser.close()
        await other.close()


async def test_each_entry_of_the_sign_in_history_leads_to_its_report_even_after_its_session_ended(front):
    from services.identity.oidc.sessions import end_session

    email = "historique.pas.moi@example.ca"
    resident = await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    phone, laptop = Browser(front.base), Browser(front.base)
    try:
        assert (await _sign_in(phone, email)).headers["location"] == "/account"
        [phone_session] = await _session_ids(front, resident.resident_id)
        assert (await _sign_in(laptop, email, "pas le bon mot de passe")).status_code == 400   # refused
        assert (await _sign_in(laptop, email)).headers["location"] == "/account"
        async with front.uow() as uow:                     # the phone's session ends on its own
            await end_session(uow, await uow.sessions.get(phone_session))
            await uow.commit()

        history = await laptop.get("/account/sign-ins")
        assert history.status_code == 200
        entries = re.findall(r'<li class="card">(.*?)</li>', history.text, re.S)
        assert len(entries) == 3                           # newest first: laptop, refused, phone
        links = [re.search(r'<a href="([^"]+)">Ce n(?:&#39;|\')était pas moi', e) for e in entries]
        assert all(links), "every entry has its report link"
        hrefs = [m.group(1).replace("&amp;", "&") for m in links]
        assert hrefs[1] == "/account/security/not-me"      # a refused sign-in opened no session
        assert hrefs[2] == not_me_url(phone_session)
        assert hrefs[0].startswith("/account/security/not-me?session=") and hrefs[0] != hrefs[2]

        confirm = await laptop.get(hrefs[2])
        done = await laptop.submit(confirm, "/account/security/not-me")
        assert done.status_code == 200 and "Votre compte est protégé" in done.text
        [reported] = await _events(front, "suspicious_activity_reported", resident.resident_id)
        assert reported["session_id"] == phone_session
    finally:
        await phone.close()
        await laptop.close()
