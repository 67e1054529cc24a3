"""The whole resident login: authorization code + PKCE (RFC 7636) with argon2id (issue 8).

Each login is a fresh browser (no session cookie): ``GET /authorize`` with ``prompt=consent``
→ the login form → ``POST /login`` (email + password: one argon2id verification) → the consent
page → ``POST /consent`` → the redirect with the code → ``POST /token`` (code + verifier).
``LOGIN_CONCURRENCY`` browsers run at once from the harness process.

Reported: logins per second per core (logins / CPU-seconds of the identity process, so the
figure does not depend on what else the shared machine runs) and the share of that CPU spent
in argon2id (the time of one verification with the same code and parameters, times the logins).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
import urllib.parse

from harness.bench import Bench
from harness.report import Row, median

PASSWORD = "correct horse battery staple 42"
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = "openid email"
LOGIN_CONCURRENCY = 4
# The same resident logs in again only after the others: prompt=consent re-asks only for a
# grant older than the interaction, compared in whole seconds.
RESIDENTS = 12
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="(?P<name>[a-z_]+)"[^>]*value="(?P<value>[^"]*)"')
CHOICE = re.compile(r'<input type="checkbox"[^>]*name="(?P<name>scope|choice)" value="(?P<value>[^"]*)"')
FIELD = re.compile(r'name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


def _hidden(html: str) -> dict[str, str]:
    found = {m["name"]: m["value"].replace("&amp;", "&") for m in HIDDEN.finditer(html)}
    if not found:  # attribute order differs: take the name/value pairs that are not choices
        found = {m["name"]: m["value"].replace("&amp;", "&") for m in FIELD.finditer(html)
                 if m["name"] not in ("scope", "purpose", "choice", "decision")}
    return found


def _setup(bench: Bench):
    def build():
        identity = bench.identity()
        created = identity.cli("client", "create", "--name", "bench-rp", "--grant-type", "authorization_code",
                               "--redirect-uri", REDIRECT, "--scope", "openid", "--scope", "email")
        client = created.get("client", created)
        emails = []
        for index in range(min(RESIDENTS, max(bench.options.logins, 2))):
            email = f"bench-{index}-{secrets.token_hex(4)}@example.org"
            identity.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
            emails.append(email)
        return identity, client["client_id"], created["client_secret"], emails
    return bench._get("login-setup", build)


async def _one_login(http, base: str, client_id: str, secret: str, email: str) -> bool:
    """One login; True when the consent page was shown and accepted."""
    code, verifier, consented = await authorization_code(http, base, client_id, email)
    token = await http.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": REDIRECT, "code_verifier": verifier},
                            auth=(client_id, secret))
    if token.status_code != 200 or "id_token" not in token.json():
        raise RuntimeError(f"code exchange failed: {token.status_code} {token.text[:120]}")
    return consented


async def authorization_code(http, base: str, client_id: str, email: str) -> tuple[str, str, bool]:
    """A fresh browser's login up to the redirect: (code, PKCE verifier, consent page shown)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": SCOPE,
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256", "prompt": "consent"})
    http.cookies.clear()

    async def follow(response):
        while response.status_code in (302, 303) and response.headers["location"].startswith(("/", base)):
            response = await http.get(urllib.parse.urljoin(base + "/", response.headers["location"]))
        return response

    page = await follow(await http.get(f"{base}/authorize?{query}"))
    if "/login" not in str(page.url):
        raise RuntimeError(f"expected the login form, got {page.status_code} {page.url}")
    page = await follow(await http.post(f"{base}/login", data={**_hidden(page.text), "email": email,
                                                               "password": PASSWORD}))
    consented = "/consent" in str(page.url)
    if consented:
        # accept every choice the consent screen offers (purpose × category, other scopes)
        choices: dict[str, list[str]] = {}
        for m in CHOICE.finditer(page.text):
            choices.setdefault(m["name"], []).append(m["value"].replace("&amp;", "&"))
        page = await follow(await http.post(f"{base}/consent", data={
            **_hidden(page.text), "decision": "accept", **choices}))
    location = page.headers.get("location", "")
    if page.status_code != 302 or not location.startswith(REDIRECT):
        raise RuntimeError(f"login did not reach the client: {page.status_code} {str(page.url)[:80]}")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    return code, verifier, consented


async def _logins(base: str, client_id: str, secret: str, emails: list[str], count: int) -> int:
    """``count`` logins; returns how many went through the consent page."""
    import httpx

    queue: asyncio.Queue[str] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(emails[index % len(emails)])

    async def browser() -> int:
        consents = 0
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
            while not queue.empty():
                consents += await _one_login(http, base, client_id, secret, queue.get_nowait())
        return consents

    return sum(await asyncio.gather(*(browser() for _ in range(min(LOGIN_CONCURRENCY, count)))))


def argon2_seconds() -> float:
    """One argon2id verification with the identity service's own code and parameters."""
    from services.identity.domain.passwords import hash_password, verify_password

    stored = hash_password(PASSWORD)
    times = []
    for _ in range(5):
        began = time.process_time()
        verify_password(stored, PASSWORD)
        times.append(time.process_time() - began)
    return median(times)


def login_flow(bench: Bench) -> list[Row]:
    identity, client_id, secret, emails = _setup(bench)
    asyncio.run(_logins(identity.base, client_id, secret, emails[::-1], 2))  # warm-up
    per_core, per_second, shares, consents = [], [], [], 0
    argon2 = argon2_seconds()
    for _ in range(max(1, min(bench.options.rounds, 3))):
        cpu_before, began = identity.process.cpu_seconds(), time.monotonic()
        consents += asyncio.run(_logins(identity.base, client_id, secret, emails, bench.options.logins))
        cpu = identity.process.cpu_seconds() - cpu_before
        wall = time.monotonic() - began
        per_second.append(bench.options.logins / wall)
        per_core.append(bench.options.logins / cpu)
        shares.append(argon2 * bench.options.logins / cpu)
    return [Row("login: authorization code + PKCE, argon2id",
                f"{median(per_core):.1f} logins/s per core",
                goal="Keycloak: 15/s per vCPU",
                note=(f"{median(per_second):.1f} logins/s wall clock with {LOGIN_CONCURRENCY} browsers; "
                      f"argon2id {argon2 * 1000:.0f} ms per verification = {100 * median(shares):.0f}% of "
                      f"identity's CPU; {len(per_core)} rounds of {bench.options.logins} logins, each: authorize, "
                      f"login form, consent (prompt=consent; shown in {consents} of {len(per_core) * bench.options.logins}), "
                      f"code exchange"))]
