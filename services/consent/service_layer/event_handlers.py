"""Events the consent register consumes (docs/contracts.md). Each handler runs inside the
consumer's unit of work, after the event id went into the inbox; the consumer commits.

- ``montreal.accounts.v1.attributes_released`` → a ``data_accessed`` entry, idempotent by
  ``access_id`` (the same id accounts passes to RecordAccess: whichever arrives first is
  recorded, the other is a no-op);
- ``montreal.accounts.v1.service_registered`` / ``service_updated`` → the recipient catalogue;
- ``montreal.accounts.v1.counter_action_recorded`` → a ``data_accessed`` entry by the office's
  counter (or the calling system), naming the agent: what agents read or did through accounts;
- ``montreal.identity.v1.grant_given`` / ``grant_withdrawn`` → consents given or withdrawn
  on the login consent screen. A biometric purpose is never accepted this way: the consent
  screen asks for several things at once, and biometric consent is never bundled;
- ``montreal.identity.v1.data_released`` → ``data_accessed`` entries (what a relying party
  received at the token endpoint, userinfo or introspection);
- ``montreal.identity.v1.counter_file_accessed`` → a ``data_accessed`` entry by the office's
  counter (a recipient per office, "Comptoir Accès Montréal — bureau …"), naming the agent
  (issue 17).
- ``montreal.accounts.v1.service_account_suspended`` / ``service_account_reactivated``
  (reason ``resident_closed`` / ``resident_reopened``) → a ``service_informed`` entry: the
  linked service was told of the account's closing or reopening (issue 21), idempotent by
  the event's id.
- ``montreal.identity.v1.card_issued`` → a ``data_accessed`` entry: the resident's own wallet
  received a carte citoyenne (issue 23), so "Qui a vu mes données" shows what the card holds;
  a silent renewal (``renewal``) → a ``card_renewed`` entry (the wallet held these values);
- ``montreal.identity.v1.card_revoked`` → a ``card_revoked`` entry (issue 23).

An event that breaks a rule is a fact we cannot record, not a reason to block the stream:
it is logged (identifiers only) and skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from services.common.errors import ServiceError
from services.common.events import CloudEvent
from services.consent.domain import ledger
from services.consent.domain.catalogue import LegalBasis, Recipient
from services.consent.domain.consents import reduce
from services.consent.domain.grant_rules import RequestedConsent
from services.consent.domain.releases import client_recipient_id, parts_of_release
from services.consent.domain.ledger import EntryType
from services.consent.service_layer import commands, handlers

log = logging.getLogger(__name__)


def _skip(event: CloudEvent, error: Exception) -> None:
    log.warning("consent: event not applied", extra={
        "event_id": event.id, "event_type": event.type, "reason": getattr(error, "reason", type(error).__name__),
        "detail": getattr(error, "message", str(error))[:300]})


def _now() -> dt.datetime:
    return ledger.utc_ms(dt.datetime.now(dt.timezone.utc))


async def on_attributes_released(event: CloudEvent, uow) -> None:
    data = event.data
    released = list(data.get("categories") or [])
    if not released:
        return  # nothing left the city's hands: nothing was accessed
    try:
        await handlers.record_access_in(commands.RecordAccess(
            access_id=str(data.get("access_id", "")), resident_id=str(data.get("resident_id", "")),
            recipient_id=str(data.get("service_id", "")), purpose_id=str(data.get("purpose_id", "")),
            data_categories=tuple(released),
            bases={k: str(v).lower() for k, v in (data.get("bases") or {}).items()},
            consent_ids=tuple(data.get("consent_ids") or ()),
            withheld_categories=tuple(data.get("withheld") or ()),
            accessed_at=ledger.parse_time(event.time) if event.time else None,
            source=f"event:{event.source}"), uow, _now())
    except (ServiceError, ValueError) as error:
        _skip(event, error)


def released_settled(reads):
    """The consumer's ``settled`` check for accounts' events (services/common/consumer.py): an
    ``attributes_released`` event whose access is already in the log, recorded by accounts'
    RecordAccess call for the same resident and recipient, needs no transaction: the handler
    would find it and do nothing. One read-only statement (``reads.access_recorded``); any
    other event, or an access recorded for someone else (which the handler logs), goes to
    the handler."""
    async def settled(event: CloudEvent) -> bool:
        if event.type != "montreal.accounts.v1.attributes_released":
            return False
        data = event.data
        access_id = data.get("access_id")
        if not isinstance(access_id, str) or not access_id:
            return False
        recorded = await reads.access_recorded(access_id)
        return recorded is not None and recorded[1:] == (str(data.get("resident_id", "")),
                                                         str(data.get("service_id", "")))
    return settled


async def on_data_released(event: CloudEvent, uow) -> None:
    """Identity's ``data_released`` (ID token, access token, userinfo, introspection) → one
    ``data_accessed`` entry per purpose it rests on (``domain/releases.py``), access ids
    ``<release_id>.<n>``: a redelivered event finds them recorded and writes nothing. A
    client that no service of the catalogue represents becomes a recipient under its own name,
    so the resident sees who received what."""
    data = event.data
    released = [str(c) for c in data.get("categories") or ()]
    resident_id = str(data.get("resident_id", ""))
    client_id = str(data.get("client_id", ""))
    if not released:
        return
    try:
        handlers.check_resident_id(resident_id)
        if not client_id or len(client_id) > 64:
            raise ValueError("data_released without a client")
        recipient = await uow.catalogue.recipient_by_client(client_id)
        in_catalogue = recipient is not None
        if recipient is None:
            recipient = Recipient(recipient_id=client_recipient_id(client_id), client_id=client_id,
                                  name_fr=str(data.get("client_name") or client_id)[:200],
                                  name_en=str(data.get("client_name") or client_id)[:200], kind="oidc_client")
            if await uow.catalogue.recipient(recipient.recipient_id) is not None:
                raise ValueError("another client already has this recipient id")
            await uow.catalogue.save_recipient(recipient)
        at = ledger.parse_time(event.time) if event.time else _now()
        consents = reduce(await uow.ledger.consent_entries(resident_id)).values()
        source = f"identity:{str(data.get('channel', ''))[:20]}"
        now = _now()
        parts = parts_of_release(released, recipient.recipient_id, consents, at, now)
        on_consent = {c for part in parts for c, basis in part.bases.items() if basis == "consent"}
        waiting = set(str(c) for c in data.get("consented_categories") or ()) & set(released) - on_consent
        if waiting and in_catalogue and isinstance(data.get("grant"), dict):
            # The consent screen's grant_given travels on another subject and may come second.
            # The release carries the grant it rests on: record that consent now (only the
            # purposes covering what is waiting); grant_given, when it comes, finds it
            # recorded under the same grant and writes nothing (on_grant_given). A client no
            # service of the catalogue represents gets no consent either way (on_grant_given).
            await _apply_grant(event, uow, resident_id, recipient, data["grant"], now, only_categories=waiting)
            consents = reduce(await uow.ledger.consent_entries(resident_id)).values()
            parts = parts_of_release(released, recipient.recipient_id, consents, at, now)
        # Issue 22: released to a client a mandatary signed in to for this resident: the
        # entry says by whom and under which mandate ("by X, under mandate M"), both or neither.
        mandatary_id, mandate_id = str(data.get("mandatary_id") or ""), str(data.get("mandate_id") or "")
        if bool(mandatary_id) != bool(mandate_id):
            raise ValueError("data_released names a mandatary without a mandate, or the reverse")
        if mandatary_id:
            handlers.check_resident_id(mandatary_id, "mandatary_id")
            if len(mandate_id) > 64:
                raise ValueError("data_released with a mandate id too long")
        for n, part in enumerate(parts):
            await handlers.record_access_in(commands.RecordAccess(
                access_id=f"{data.get('release_id', '')}.{n}", resident_id=resident_id,
                recipient_id=recipient.recipient_id, purpose_id=part.purpose_id, data_categories=part.categories,
                bases=part.bases, consent_ids=part.consent_ids, accessed_at=part.accessed_at, source=source,
                mandatary_id=mandatary_id, mandate_id=mandate_id),
                uow, now)
    except (ServiceError, ValueError) as error:
        _skip(event, error)


#: what an agent does with a file at the counter: serve the resident in front of them (a public
#: task of the city, not a consent): the catalogue's ``service-provision`` purpose
COUNTER_PURPOSE = "service-provision"


def counter_recipient(office: str) -> Recipient:
    """The recipient that stands for one office's counter: its id derived from the office's
    name (the same on every replica and every redelivery), its names what residents read."""
    digest = hashlib.sha256(office.encode()).hexdigest()[:16]
    return Recipient(recipient_id=f"counter-{digest}", client_id=f"counter:{digest}",
                     name_fr=f"Comptoir Accès Montréal — bureau {office}"[:200],
                     name_en=f"Accès Montréal counter — office {office}"[:200], kind="counter", owner="city")


async def _agent_recipient(uow, office: str, client_id: str) -> Recipient:
    """Who the resident reads as having seen their file: the office's counter when the agent's
    token names an office; otherwise the calling system (a borough system with its own staff
    directory): its catalogue entry when it represents a service, else one derived from its
    client id, the same on every replica and redelivery."""
    if office:
        return counter_recipient(office)
    known = await uow.catalogue.recipient_by_client(client_id)
    if known is not None:
        return known
    digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    return Recipient(recipient_id=f"counter-client-{digest}", client_id=f"counter-client:{digest}",
                     name_fr=f"Système de comptoir — client {client_id}"[:200],
                     name_en=f"Counter system — client {client_id}"[:200], kind="counter", owner="city")


async def on_counter_action_recorded(event: CloudEvent, uow) -> None:
    """Accounts' ``counter_action_recorded`` (an agent read or acted on the file through
    accounts: FindResident, GetProfile, the export, enrolment, a document check, a link in
    person) → one ``data_accessed`` entry, by the office's counter or, without an office, the
    calling system; source ``accounts:counter``."""
    await _record_counter_access(event, uow, source="accounts:counter", client_allowed=True)


async def on_counter_file_accessed(event: CloudEvent, uow) -> None:
    """Identity's ``counter_file_accessed`` (the counter console opened or searched the file)
    → one ``data_accessed`` entry by the office's counter; source ``identity:counter``."""
    await _record_counter_access(event, uow, source="identity:counter", client_allowed=False)


async def _record_counter_access(event: CloudEvent, uow, *, source: str, client_allowed: bool) -> None:
    """One ``data_accessed`` entry for a counter event: the access id from the event (a
    redelivered event finds it recorded and writes nothing), the basis the city's public task,
    the agent (``act.sub``) named in the entry. Identity's console always names an office;
    accounts' callers may be a borough system with its own staff directory (no office)."""
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    office = str(data.get("office") or "").strip()
    client_id = str(data.get("client_id") or "").strip() if client_allowed else ""
    agent = str(data.get("agent_reference") or "")[:200]
    categories = tuple(str(c) for c in data.get("categories") or ())
    try:
        handlers.check_resident_id(resident_id)
        if not (office or client_id) or not agent or not categories:
            raise ValueError(f"{event.type.rsplit('.', 1)[-1]} without an office"
                             f"{' or a client' if client_allowed else ''}, an agent or categories")
        recipient = await _agent_recipient(uow, office, client_id)
        if await uow.catalogue.recipient(recipient.recipient_id) is None:
            await uow.catalogue.save_recipient(recipient)
        await handlers.record_access_in(commands.RecordAccess(
            access_id=str(data.get("access_id", "")), resident_id=resident_id, recipient_id=recipient.recipient_id,
            purpose_id=COUNTER_PURPOSE, data_categories=categories,
            bases={c: LegalBasis.PUBLIC_TASK.value for c in categories},
            accessed_at=ledger.parse_time(event.time) if event.time else None,
            source=source, agent=agent), uow, _now())
    except (ServiceError, ValueError) as error:
        _skip(event, error)


async def on_service_registered(event: CloudEvent, uow) -> None:
    """``service_registered`` and ``service_updated`` (same payload, plus ``state``). A
    service that is no longer active keeps its name (old receipts and access logs name it)
    but loses its purposes and categories, so every Check for it denies."""
    data = event.data
    active = str(data.get("state", "active")) == "active"
    known_purposes = {p.purpose_id for p in await uow.catalogue.purposes()}
    known_categories = await uow.catalogue.categories()
    recipient = Recipient(
        recipient_id=str(data.get("service_id", "")), client_id=str(data.get("client_id", "")),
        name_fr=str(data.get("name_fr", "")), name_en=str(data.get("name_en", "")),
        kind=str(data.get("kind", "")), owner=str(data.get("owner", "")),
        # Purposes or categories the register does not know cannot be consented to or
        # checked; they are dropped rather than refusing the whole service.
        purposes=tuple(p for p in data.get("purposes") or () if p in known_purposes) if active else (),
        data_categories=tuple(c for c in data.get("attributes") or () if c in known_categories) if active else ())
    try:
        handlers.check_slug(recipient.recipient_id, "service_id")
        if not recipient.client_id or not recipient.name_fr or not recipient.name_en:
            raise ValueError("service_registered without client_id or names")
        other = await uow.catalogue.recipient_by_client(recipient.client_id)
        if other is not None and other.recipient_id != recipient.recipient_id:
            raise ValueError("client already represents another recipient")
        await uow.catalogue.save_recipient(recipient)
    except (ServiceError, ValueError) as error:
        _skip(event, error)


async def on_grant_given(event: CloudEvent, uow) -> None:
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    recipient = await uow.catalogue.recipient_by_client(str(data.get("client_id", "")))
    if recipient is None:
        return  # a client that is no service of the catalogue: no consent to record
    now = _now()
    await _apply_grant(event, uow, resident_id, recipient, data, now)
    refused = set(data.get("purposes_refused") or ())
    if refused:
        await _withdraw_where(uow, resident_id, now, reason="refused_at_login", actor=f"grant:{data.get('grant_id', '')}",
                              match=lambda c: c.recipient_id == recipient.recipient_id and c.purpose_id in refused)


async def _apply_grant(event: CloudEvent, uow, resident_id: str, recipient: Recipient, grant: dict,
                       now: dt.datetime, only_categories: set[str] | None = None) -> None:
    """The consents a consent-screen grant gives (``grant_given``, or the grant a
    ``data_released`` event carries when it arrives first), once per grant and purpose: a
    purpose already given under this grant (actor ``grant:<grant_id>``) is not given again,
    so the two events may come in either order, and either twice. ``only_categories``: only
    the purposes covering one of them (what a release is waiting for)."""
    actor = f"grant:{grant.get('grant_id', '')}"
    given = {e.body.get("purpose_id") for e in await uow.ledger.consent_entries(resident_id)
             if e.entry_type is EntryType.CONSENT_GIVEN and e.body.get("actor") == actor}
    # exactly the categories ticked (Law 25); an older event without them: the purpose's all
    ticked = {str(item.get("purpose_id", "")): tuple(str(c) for c in item.get("categories") or ())
              for item in grant.get("purpose_categories") or () if isinstance(item, dict)}
    for purpose_id in grant.get("purposes_accepted") or ():
        purpose = await uow.catalogue.purpose(str(purpose_id))
        if purpose is None or purpose.biometric:
            _skip(event, ValueError(f"purpose {purpose_id} cannot be accepted on a consent screen"))
            continue
        if purpose.purpose_id in given:
            continue  # recorded already under this grant
        if purpose.purpose_id in ticked and not ticked[purpose.purpose_id]:
            continue  # nothing ticked is no consent
        if only_categories is not None and not set(ticked.get(purpose.purpose_id, ())) & only_categories:
            continue
        try:
            await handlers.give_in(commands.GiveConsent(
                resident_id, recipient.recipient_id,
                (RequestedConsent(purpose.purpose_id, data_categories=ticked.get(purpose.purpose_id, ())),),
                collection_method="login_consent_screen", explicit_act=True, actor=actor), uow, now)
        except ServiceError as error:
            _skip(event, error)


async def on_grant_withdrawn(event: CloudEvent, uow) -> None:
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    marker = f"grant:{data.get('grant_id', '')}"
    try:
        handlers.check_resident_id(resident_id)
    except ServiceError as error:
        _skip(event, error)
        return
    # A grant adds to the one before it (a screen asks only what is new), so every consent
    # given on a consent screen to this client's service ends with it, not only the last one's.
    recipient = await uow.catalogue.recipient_by_client(str(data.get("client_id", "")))
    entries = await uow.ledger.consent_entries(resident_id)
    from_grant = {e.consent_id for e in entries
                  if e.entry_type is EntryType.CONSENT_GIVEN and (
                      e.body.get("actor") == marker or (
                          recipient is not None and str(e.body.get("actor", "")).startswith("grant:")
                          and e.body.get("recipient_id") == recipient.recipient_id))}
    await _withdraw_where(uow, resident_id, _now(), reason="grant_withdrawn", actor=marker,
                          match=lambda c: c.consent_id in from_grant)


async def _withdraw_where(uow, resident_id: str, now: dt.datetime, *, reason: str, actor: str, match) -> None:
    try:
        handlers.check_resident_id(resident_id)
    except ServiceError:
        return
    await uow.ledger.lock()
    for consent in reduce(await uow.ledger.consent_entries(resident_id)).values():
        if consent.is_active(now) and match(consent):
            await handlers.withdraw_in(commands.WithdrawConsent(resident_id, consent.consent_id, actor=actor,
                                                                reason=reason), uow, now)


async def on_service_informed(event: CloudEvent, uow) -> None:
    """Accounts suspended (or reactivated) a service account because the resident closed
    (or reopened) their Montréal account, and told the service: the resident's history says
    so. The entry's ``notice_id`` is the event's id: a redelivery that got past the inbox
    (a replayed dead letter) finds the entry and appends nothing."""
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    try:
        handlers.check_resident_id(resident_id)
        handlers.check_slug(str(data.get("service_id", "")), "service_id")
        if not event.id or len(event.id) > 64:
            raise ValueError("event without a usable id")
        await uow.ledger.lock()
        told = await uow.ledger.resident_entries(resident_id, types=[EntryType.SERVICE_INFORMED],
                                                 recipient_id=str(data["service_id"]))
        if any(e.body.get("notice_id") == event.id for e in told):
            return
        await uow.ledger.append([ledger.service_informed(
            notice_id=event.id, resident_id=resident_id, recipient_id=str(data["service_id"]),
            account_id=str(data.get("account_id", ""))[:64], informed_of=str(data.get("reason", "")),
            time=ledger.parse_time(event.time) if event.time else _now(), source=f"event:{event.source}")])
    except (ServiceError, ValueError) as error:
        _skip(event, error)


#: the resident's own wallet, as the recipient of a carte citoyenne (issue 23)
CARD_RECIPIENT = Recipient(recipient_id="carte-citoyenne", client_id="wallet:carte-citoyenne",
                           name_fr="Votre portefeuille — carte citoyenne", name_en="Your wallet — citizen card",
                           kind="wallet", owner="resident")
#: the catalogue's categories behind the card's claims (names, birth date and the ages drawn
#: from it, residence and borough drawn from the address; the citizen number is identity's)
CARD_CATEGORIES = ("given_name", "family_name", "date_of_birth", "postal_address")


async def on_card_issued(event: CloudEvent, uow) -> None:
    """Identity's ``card_issued`` → one ``data_accessed`` entry, recipient the resident's own
    wallet, access id ``card.<card_id>`` (a redelivery finds it recorded and writes nothing),
    on the city's public task. A renewal (``renewal``: the same wallet, the values of the card
    it held) is a ``card_renewed`` entry instead: no new data left the city."""
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    card_id = str(data.get("card_id", ""))
    try:
        handlers.check_resident_id(resident_id)
        if not card_id or len(card_id) > 64:
            raise ValueError("card_issued without a usable card_id")
        if data.get("renewal") is True:
            await _card_entry(uow, resident_id, card_id, EntryType.CARD_RENEWED, lambda: ledger.card_renewed(
                resident_id=resident_id, card_id=card_id, expires_at=str(data.get("expires_at", ""))[:40],
                time=ledger.parse_time(event.time) if event.time else _now(), source="identity:card"))
            return
        if await uow.catalogue.recipient(CARD_RECIPIENT.recipient_id) is None:
            await uow.catalogue.save_recipient(CARD_RECIPIENT)
        await handlers.record_access_in(commands.RecordAccess(
            access_id=f"card.{card_id}"[:64], resident_id=resident_id, recipient_id=CARD_RECIPIENT.recipient_id,
            purpose_id=COUNTER_PURPOSE, data_categories=CARD_CATEGORIES,
            bases={c: LegalBasis.PUBLIC_TASK.value for c in CARD_CATEGORIES},
            accessed_at=ledger.parse_time(event.time) if event.time else None,
            source="identity:card"), uow, _now())
    except (ServiceError, ValueError) as error:
        _skip(event, error)


async def _card_entry(uow, resident_id: str, card_id: str, entry_type: EntryType, make) -> None:
    """Appends a card's entry unless one of that type for that card is there (a redelivery
    that got past the inbox, a replayed dead letter, writes nothing)."""
    await uow.ledger.lock()
    for entry in await uow.ledger.resident_entries(resident_id, types=[entry_type]):
        if entry.body.get("card_id") == card_id:
            return
    await uow.ledger.append([make()])


async def on_card_revoked(event: CloudEvent, uow) -> None:
    """Identity's ``card_revoked`` → a ``card_revoked`` entry (issue 23): the resident reads
    in their history that the card was revoked, when and why."""
    data = event.data
    resident_id = str(data.get("resident_id", ""))
    card_id = str(data.get("card_id", ""))
    try:
        handlers.check_resident_id(resident_id)
        if not card_id or len(card_id) > 64:
            raise ValueError("card_revoked without a usable card_id")
        await _card_entry(uow, resident_id, card_id, EntryType.CARD_REVOKED, lambda: ledger.card_revoked(
            resident_id=resident_id, card_id=card_id, reason=str(data.get("reason", "")),
            time=ledger.parse_time(event.time) if event.time else _now(), source="identity:card"))
    except (ServiceError, ValueError) as error:
        _skip(event, error)


ACCOUNTS_SUBJECTS = {
    "montreal.accounts.v1.attributes_released": on_attributes_released,
    "montreal.accounts.v1.service_registered": on_service_registered,
    "montreal.accounts.v1.service_updated": on_service_registered,
    "montreal.accounts.v1.service_account_suspended": on_service_informed,
    "montreal.accounts.v1.service_account_reactivated": on_service_informed,
    "montreal.accounts.v1.counter_action_recorded": on_counter_action_recorded,
}
IDENTITY_SUBJECTS = {
    "montreal.identity.v1.grant_given": on_grant_given,
    "montreal.identity.v1.grant_withdrawn": on_grant_withdrawn,
    "montreal.identity.v1.data_released": on_data_released,
    "montreal.identity.v1.counter_file_accessed": on_counter_file_accessed,
    "montreal.identity.v1.card_issued": on_card_issued,
    "montreal.identity.v1.card_revoked": on_card_revoked,
}


def dispatcher(table):
    async def handle(event: CloudEvent, uow) -> None:
        handler = table.get(event.type)
        if handler is not None:
            await handler(event, uow)
    return handle
