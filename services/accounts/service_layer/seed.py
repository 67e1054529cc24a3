"""The catalogue a fresh installation starts with: a few city-wide services, one service per
borough (the 19 boroughs), and a partner. Idempotent: a service already in the catalogue is
left as it is (an operator may have changed it).
"""

from __future__ import annotations

import unicodedata

from services.common.errors import AlreadyExists

from ..domain.catalogue import BOROUGHS, ServiceKind
from . import commands as c
from .handlers import UowFactory, register_service

_IDENTITY = ("given_name", "family_name", "date_of_birth")
_CONTACT = ("email", "phone", "postal_address", "preferred_language", "preferred_channels")


def slug(name: str) -> str:
    """``Côte-des-Neiges–Notre-Dame-de-Grâce`` → ``cote-des-neiges-notre-dame-de-grace``."""
    # Accents fall away (NFKD + drop combining marks); every other non-letter, the en dashes of
    # the boroughs' official names included, separates words.
    out = "".join("" if unicodedata.combining(ch) else ch.lower() if ch.isascii() and ch.isalnum() else "-"
                  for ch in unicodedata.normalize("NFKD", name))
    return "-".join(part for part in out.split("-") if part)


MUNICIPAL: tuple[c.RegisterService, ...] = (
    # montreal.ca itself, as the demo relying party of `mtlid up` (client demo-montreal-ca):
    # what a resident accepts on its consent screen lands in the ledger under this service.
    c.RegisterService("montreal-ca", "montreal.ca", "montreal.ca", ServiceKind.MUNICIPAL,
                      "Service de l'expérience citoyenne et des communications", "demo-montreal-ca",
                      attributes=("given_name", "family_name", "email", "preferred_language", "preferred_channels"),
                      purposes=("service-provision", "communication", "statistics")),
    c.RegisterService("montreal-permits", "Permis et autorisations", "Permits and authorizations",
                      ServiceKind.MUNICIPAL, "Service de l'urbanisme et de la mobilité", "montreal-permits",
                      attributes=(*_IDENTITY, *_CONTACT),
                      purposes=("service-provision", "identity-verification", "communication")),
    c.RegisterService("montreal-pet-licences", "Permis d'animaux", "Pet licences", ServiceKind.MUNICIPAL,
                      "Service de la concertation des arrondissements", "montreal-pet-licences",
                      attributes=("given_name", "family_name", "email", "phone", "postal_address", "preferred_language"),
                      purposes=("service-provision", "communication")),
    c.RegisterService("montreal-library", "Bibliothèques de Montréal", "Montréal libraries", ServiceKind.MUNICIPAL,
                      "Service de la culture", "montreal-library",
                      attributes=(*_IDENTITY, "email", "phone", "postal_address", "preferred_language",
                                  "accessibility_needs"),
                      purposes=("service-provision", "communication", "service-personalisation", "statistics")),
    c.RegisterService("montreal-tax-account", "Compte de taxes", "Tax account", ServiceKind.MUNICIPAL,
                      "Service des finances", "montreal-tax-account",
                      attributes=(*_IDENTITY, "email", "postal_address", "preferred_language", "preferred_channels"),
                      purposes=("service-provision", "identity-verification", "communication")),
)

BOROUGH_SERVICES: tuple[c.RegisterService, ...] = tuple(
    c.RegisterService(f"{slug(b)}-services", f"Services de l'arrondissement {b}", f"{b} borough services",
                      ServiceKind.BOROUGH, f"Arrondissement {b}", f"{slug(b)}-services", borough=b,
                      attributes=("given_name", "family_name", "email", "phone", "postal_address",
                                  "preferred_language", "preferred_channels", "accessibility_needs"),
                      purposes=("service-provision", "communication"))
    for b in BOROUGHS)

PARTNERS: tuple[c.RegisterService, ...] = (
    c.RegisterService("bixi-montreal", "BIXI Montréal", "BIXI Montréal", ServiceKind.PARTNER, "BIXI Montréal (OBNL)",
                      "bixi-montreal", attributes=("given_name", "family_name", "email", "phone"),
                      purposes=("service-provision", "communication")),
)

SEED: tuple[c.RegisterService, ...] = (*MUNICIPAL, *BOROUGH_SERVICES, *PARTNERS)


async def seed_catalogue(uow_factory: UowFactory) -> list[str]:
    """Register every seed service missing from the catalogue; returns the ids added."""
    added = []
    for command in SEED:
        try:
            await register_service(command, uow_factory())
        except AlreadyExists:
            continue
        added.append(command.service_id)
    return added
