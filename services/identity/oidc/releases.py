"""Every release to a client is a ledger fact (docs/contracts.md, "Every release is a ledger fact").

What a relying party receives about a resident — the ID token's claims and the access token's
``sub`` at the token endpoint (code and refresh), ``/userinfo`` answers, introspection answers
about a resident's token — is written as a ``data_released`` event in the same transaction as
what makes the release possible (the outbox). The consent service turns it into a
``data_accessed`` ledger entry: recipient, categories, purpose and legal basis, the consents
it rests on, time, ledger index.

Claims are reported as the consent catalogue's data categories (docs/contracts.md), never
with their values. Protocol claims about the login itself (``acr``, ``amr``, ``auth_time``,
``sid``, ``nonce``) describe the sign-in, not the resident's information, and are not listed.

Repeated reads (userinfo, introspection, refresh-token grants) of the same categories by the
same client within :data:`REPEAT_WINDOW_SECONDS` are one record: the event says so, and the
account pages say so. The window is shared by every identity process on the database (issue
15): a read records only if it claims its window key in ``release_windows`` (an
insert-or-update that fails while a record of that key is younger than the window), in the
transaction that writes ``data_released``. Each process also remembers, in memory, the keys
it saw claimed and until when, so a repeated read inside the window costs no write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import OrderedDict
from typing import Any

from services.identity.domain.events import DataReleased
from services.identity.oidc.tokens import new_id

#: claim → data category of the consent catalogue (``sign_in_identifier``: the ``sub`` the
#: client signs the resident in with, pairwise for partners)
CLAIM_CATEGORIES: dict[str, str] = {
    "sub": "sign_in_identifier",
    "email": "email",
    "email_verified": "email",
    "locale": "preferred_language",
    # issue 22: only in an ID token on someone's behalf (``TokenOwner.claims``)
    "given_name": "given_name",
    "family_name": "family_name",
}

REPEAT_WINDOW_SECONDS = 300
_REMEMBERED = 10_000


def categories_of(claims: dict[str, Any]) -> tuple[str, ...]:
    """The catalogue's categories a set of released claims falls into, in a stable order."""
    return tuple(sorted({CLAIM_CATEGORIES[c] for c in claims if c in CLAIM_CATEGORIES}))


def release(*, resident_id: str, client: Any, channel: str, categories: tuple[str, ...],
            repeat_window: int = 0, grant: Any = None, mandatary_id: str = "", mandate_id: str = "") -> DataReleased:
    ticked = {c for cats in (grant.purpose_categories.values() if grant is not None else ()) for c in cats}
    consented = tuple(c for c in categories if c in ticked)
    # What the consented part rests on travels with the release (the register may see this
    # event before the grant's own grant_given: another subject, no order between them).
    rests_on = None if not consented else {
        "grant_id": grant.grant_id, "purposes_accepted": list(grant.purpose_categories),
        "purposes_refused": list(grant.purposes_refused),
        "purpose_categories": [{"purpose_id": p, "categories": list(c)} for p, c in grant.purpose_categories.items()]}
    return DataReleased(release_id=new_id(), resident_id=resident_id, client_id=client.client_id,
                        client_name=getattr(client, "name", "") or client.client_id, channel=channel,
                        categories=categories, repeat_window_seconds=repeat_window,
                        consented_categories=consented, grant=rests_on,
                        mandatary_id=mandatary_id if mandate_id else "", mandate_id=mandate_id if mandatary_id else "")


class RecentReleases:
    """Which repeated reads were recorded in the last window, in this process (bounded)."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS, clock=time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[tuple, float] = OrderedDict()

    def is_recorded(self, key: tuple) -> bool:
        at = self._seen.get(key)
        return at is not None and self._clock() - at < self.window

    def remember(self, key: tuple, age: float = 0.0) -> None:
        """Call only after the record's transaction committed: a crash before forgets nothing.
        ``age``: how long ago the record was written (by another process)."""
        self._seen[key] = self._clock() - max(0.0, age)
        self._seen.move_to_end(key)
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


async def record_read(provider, uow, *, resident_id: str, client: Any, channel: str,
                      claims: dict[str, Any]) -> tuple | None:
    """Add the record of a repeated-read release (userinfo, introspection) to ``uow`` unless
    the same one was recorded within the window. Returns the key to remember once committed."""
    categories = categories_of(claims)
    if not categories:
        return None
    key = (channel, client.client_id, resident_id, categories)
    if not await _claim(provider, uow, key):
        return None
    grant = await uow.grants.current(resident_id, client.client_id)
    uow.add_event(release(resident_id=resident_id, client=client, channel=channel, categories=categories,
                          repeat_window=int(provider.recent_releases.window), grant=grant))
    return key


async def record_token(provider, uow, state: Any, client: Any, grant_type: str) -> tuple | None:
    """The token endpoint's release, added to the transaction that consumes the code or
    rotates the refresh token: the ID token's claims (code grant with ``openid``, OIDC Core
    s. 3.1.3.3) and the access token's ``sub`` (RFC 9068 s. 2.2). A refresh re-releases what
    the client already holds: identical refreshes within the window are one record, like
    userinfo's reads. Returns the key to remember once committed."""
    owner = state.owner
    if owner is None or client is None:
        return None  # client credentials: nothing about a resident
    scope = str(state.issued.get("scope") or "")
    code = grant_type == "authorization_code"
    claims = owner.claims(scope) if code and "openid" in scope.split() else {"sub": owner.subject}
    categories = categories_of(claims)
    key = None
    if not code:
        key = ("refresh", client.client_id, owner.resident_id, categories)
        if not await _claim(provider, uow, key):
            return None
    # The grant says which released categories were ticked on a consent screen: only a client
    # with consent purposes has one to read (one SELECT less on the token path for the others).
    ask = len(categories) > 1 and bool(getattr(client.client, "purposes", ()))
    grant = await uow.grants.current(owner.resident_id, client.client_id) if ask else None
    on_behalf = owner.acting is not None
    uow.add_event(release(resident_id=owner.resident_id, client=client.client, channel="token" if code else "refresh",
                          categories=categories, grant=grant,
                          repeat_window=0 if code else int(provider.recent_releases.window),
                          mandatary_id=(owner.mandatary_id or "") if on_behalf else "",
                          mandate_id=(owner.mandate_id or "") if on_behalf else ""))
    if on_behalf and code and owner.mandatary_names and owner.mandatary_id:
        # Issue 22: the ID token's ``act`` carries the mandatary's own names (and their
        # pairwise ``sub``): a release of the mandatary's data, in their own history.
        uow.add_event(release(resident_id=owner.mandatary_id, client=client.client, channel="token",
                              categories=categories_of({"sub": "", **owner.mandatary_names})))
    return key


def window_key(key: tuple) -> str:
    """The database's name for a repeated read: a SHA-256, so the table holds no identifier."""
    return hashlib.sha256("\x1f".join([*key[:3], *key[3]]).encode()).hexdigest()


async def _claim(provider, uow, key: tuple) -> bool:
    """True if this transaction is to record the read ``key``: no record of it within the
    window, neither in this process's memory nor in the database (another process)."""
    recent = provider.recent_releases
    if recent.is_recorded(key):
        return False
    now = dt.datetime.now(dt.timezone.utc)
    hashed = window_key(key)
    if await uow.release_windows.claim(hashed, now, int(recent.window)):
        return True
    # Another process recorded it: remember when, so the next identical read here costs no write.
    recorded_at = await uow.release_windows.recorded_at(hashed)
    if recorded_at is not None:
        recent.remember(key, age=(now - recorded_at).total_seconds())
    return False
