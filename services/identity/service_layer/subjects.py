"""Which identifier a client may see (OIDC Core 8), and the way back for brokers.

* ``ResolveCitizenNumber``: a citizen number read at a counter → the caller's view of the
  resident (pairwise for its sector unless it is a city client registered ``public``).
* ``ResolveSubject`` / ``GetClientSubject``: only for brokering city services (accounts),
  which answer partners in the partner's own pairwise identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.organization_number import is_organization_id
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.domain.clients import OAuthClient
from services.identity.domain.pairwise import resolve_pairwise_subject, sector_of, subject_for


@dataclass(frozen=True)
class ResolveCitizenNumber:
    caller_client_id: str
    citizen_number: str


@dataclass(frozen=True)
class ResolveSubject:
    caller_client_id: str
    client_id: str
    subject: str


@dataclass(frozen=True)
class GetClientSubject:
    caller_client_id: str
    client_id: str
    resident_id: str


@dataclass(frozen=True)
class GetLevelOfAssurance:
    caller_client_id: str
    subject: str


@dataclass(frozen=True)
class GetResidentContact:
    caller_client_id: str
    resident_id: str


@dataclass(frozen=True)
class ResolvedSubject:
    subject: str
    subject_type: str           # "public" | "pairwise"
    level: LevelOfAssurance


def parse_citizen_number(text: str, field: str = "citizen_number") -> CitizenNumber:
    try:
        return CitizenNumber.parse(text)
    except InvalidCitizenNumber as error:
        raise InvalidArgument(field, str(error)) from None


async def calling_client(uow, client_id: str) -> OAuthClient:
    client = await uow.clients.get(client_id)
    if client is None or client.disabled:
        raise PermissionDenied("UNKNOWN_CLIENT", "the calling client is not registered or is disabled")
    return client


async def broker(uow, client_id: str) -> OAuthClient:
    client = await calling_client(uow, client_id)
    if not client.is_city_client:
        raise PermissionDenied("NOT_A_BROKER", "only the city's brokering services may resolve other clients' subjects")
    return client


def resident_behind(client: OAuthClient, subject: str, secret: bytes) -> str | None:
    """The citizen identifier behind ``subject`` as ``client`` sees it, or None (an
    organization's number for a public-subject client: issue 22)."""
    if client.subject_type == "public":
        try:
            return CitizenNumber.parse(subject).canonical
        except InvalidCitizenNumber:
            return subject if is_organization_id(subject) else None
    return resolve_pairwise_subject(subject, sector_of(client), secret)


async def resolve_citizen_number(cmd: ResolveCitizenNumber, uow, *, secret: bytes) -> ResolvedSubject:
    number = parse_citizen_number(cmd.citizen_number)
    async with uow:
        client = await calling_client(uow, cmd.caller_client_id)
        resident = await uow.residents.get(number.canonical)
    if resident is None:
        raise NotFound("resident", "no resident has this citizen number")
    if resident.disabled:
        raise FailedPrecondition("RESIDENT_DISABLED", "this citizen number belongs to a disabled account")
    return ResolvedSubject(subject=subject_for(client, resident.resident_id, secret),
                           subject_type=client.subject_type, level=resident.level)


async def resolve_subject(cmd: ResolveSubject, uow, *, secret: bytes) -> str:
    async with uow:
        await broker(uow, cmd.caller_client_id)
        target = await uow.clients.get(cmd.client_id)
        if target is None:
            raise NotFound("client")
        resident_id = resident_behind(target, cmd.subject, secret)
        if resident_id is None or not await _party_exists(uow, resident_id):
            raise NotFound("subject", "no resident has this subject for this client")
    return resident_id


async def client_subject(cmd: GetClientSubject, uow, *, secret: bytes) -> tuple[str, str]:
    if is_organization_id(cmd.resident_id):
        party_id = cmd.resident_id   # issue 22: an organization's service accounts, pairwise too
    else:
        party_id = parse_citizen_number(cmd.resident_id, "resident_id").canonical
    async with uow:
        await broker(uow, cmd.caller_client_id)
        target = await uow.clients.get(cmd.client_id)
        if target is None:
            raise NotFound("client")
        if not await _party_exists(uow, party_id):
            raise NotFound("resident")
    return subject_for(target, party_id, secret), target.subject_type


async def _party_exists(uow, party_id: str) -> bool:
    """A resident, or an organization registered with the city (issue 22): both hold service
    accounts and are addressed to partners by a pairwise subject of the same shape."""
    if is_organization_id(party_id):
        return await uow.organizations.exists(party_id)
    return await uow.residents.exists(party_id)


async def level_of_assurance(cmd: GetLevelOfAssurance, uow, *, secret: bytes) -> LevelOfAssurance:
    async with uow:
        client = await calling_client(uow, cmd.caller_client_id)
        resident_id = resident_behind(client, cmd.subject, secret)
        resident = await uow.residents.get(resident_id) if resident_id else None
    if resident is None:
        raise NotFound("subject", "no resident has this subject for the calling client")
    return resident.level


async def resident_contact(cmd: GetResidentContact, uow):
    number = parse_citizen_number(cmd.resident_id, "resident_id")
    async with uow:
        await broker(uow, cmd.caller_client_id)
        resident = await uow.residents.get(number.canonical)
    if resident is None:
        raise NotFound("resident")
    return resident
