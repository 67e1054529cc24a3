"""Idempotent set-up of known clients and residents, for ``mtlid up``'s demo data and for
scripts (``services.identity.demo.prepare_demo`` builds on it).

Running it twice changes nothing but the clients' secrets: a secret is stored only hashed,
so the second run cannot print the first one — it issues a fresh one (``rotate_secret``).
"""

from __future__ import annotations

import dataclasses

from services.identity.domain import passwords
from services.identity.service_layer import hashing
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.clients import OAuthClient, hash_client_secret, new_client_secret
from services.identity.domain.events import ResidentRegistered
from services.identity.service_layer.authentication import add_new_resident, utcnow
from services.identity.service_layer.clients import RegisterClient, register_client


@dataclasses.dataclass(frozen=True)
class SeededClient:
    client: OAuthClient
    client_secret: str | None
    created: bool


@dataclasses.dataclass(frozen=True)
class SeededResident:
    citizen_number: CitizenNumber
    email: str
    created: bool


async def ensure_client(uow_factory, client: OAuthClient, *, allow_http_loopback: bool = True) -> SeededClient:
    """Register ``client`` if absent; if present, keep its metadata and issue a new secret."""
    async with uow_factory() as uow:
        existing = await uow.clients.get(client.client_id)
        if existing is not None:
            secret = None
            if existing.token_endpoint_auth_method != "none":
                secret = new_client_secret()
                await uow.clients.set_secret_hash(existing.client_id, hash_client_secret(secret))
                await uow.commit()
            return SeededClient(existing, secret, created=False)
    registered, secret = await register_client(RegisterClient(client, allow_http_loopback=allow_http_loopback),
                                               uow_factory())
    return SeededClient(registered, secret, created=True)


async def ensure_resident(uow_factory, *, email: str, password: str,
                          level: LevelOfAssurance = LevelOfAssurance.SELF_ASSERTED,
                          preferred_language: str = "fr") -> SeededResident:
    """A resident with a verified email and this password (reset if the resident exists)."""
    password_hash = await hashing.run(passwords.hash_password, password)
    async with uow_factory() as uow:
        resident = await uow.residents.by_email(email)
        created = resident is None
        if created:
            resident = await add_new_resident(uow, email=email, password_hash=password_hash,
                                              preferred_language=preferred_language, now=utcnow(),
                                              email_verified=True)
            uow.add_event(ResidentRegistered(resident_id=resident.resident_id,
                                             preferred_language=preferred_language, email_verified=True))
        resident.password_hash = password_hash
        resident.verify_email()
        resident.raise_level(level)
        await uow.residents.save(resident)
        await uow.commit()
    return SeededResident(CitizenNumber(resident.resident_id), resident.email, created)
