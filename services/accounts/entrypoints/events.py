"""Events the accounts service consumes from identity: ``resident_registered``,
``email_verified``, and (issue 21) ``resident_closed`` / ``resident_reopened`` /
``resident_purged``.

The consumer (services.common.consumer) applies each event once (inbox) and commits; the
handlers only change state. The events carry no e-mail (docs/contracts.md): accounts asks
identity for it (``GetResidentContact``). If identity cannot answer, the handler raises and the
event is redelivered later: it waits in the stream, nothing is lost.
"""

from __future__ import annotations

import logging

from services.common.errors import InvalidArgument
from services.common.events import CloudEvent

from ..service_layer.commands import EmailVerified, RegisterResident
from ..service_layer.handlers import email_verified, register_resident
from ..service_layer.ports import IdentityDirectory
from ..service_layer.organizations import organization_registered
from ..service_layer.resident_closure import resident_closed, resident_purged, resident_reopened

logger = logging.getLogger(__name__)

RESIDENT_REGISTERED = "montreal.identity.v1.resident_registered"
EMAIL_VERIFIED = "montreal.identity.v1.email_verified"
RESIDENT_CLOSED = "montreal.identity.v1.resident_closed"
RESIDENT_REOPENED = "montreal.identity.v1.resident_reopened"
RESIDENT_PURGED = "montreal.identity.v1.resident_purged"
ORGANIZATION_REGISTERED = "montreal.identity.v1.organization_registered"
IDENTITY_SUBJECTS = (RESIDENT_REGISTERED, EMAIL_VERIFIED, RESIDENT_CLOSED, RESIDENT_REOPENED, RESIDENT_PURGED,
                     ORGANIZATION_REGISTERED)


def identity_event_handler(directory: IdentityDirectory | None):
    async def on_identity_event(event: CloudEvent, uow) -> None:
        data = event.data or {}
        resident_id = str(data.get("resident_id", ""))
        try:
            if event.type == RESIDENT_REGISTERED:
                created = await register_resident(RegisterResident(
                    resident_id=resident_id, preferred_language=data.get("preferred_language")),
                    uow, directory=directory)
                logger.info("profile created" if created else "profile existed (enrolled first)",
                            extra={"event_id": event.id})
            elif event.type == EMAIL_VERIFIED and directory is not None:
                await email_verified(EmailVerified(resident_id=resident_id), uow, directory=directory)
            elif event.type == RESIDENT_CLOSED:
                changed = await resident_closed(resident_id, uow)
                logger.info("resident closed: service accounts suspended", extra={"event_id": event.id,
                                                                                 "accounts": changed})
            elif event.type == RESIDENT_REOPENED:
                changed = await resident_reopened(resident_id, uow)
                logger.info("resident reopened: service accounts reactivated", extra={"event_id": event.id,
                                                                                    "accounts": changed})
            elif event.type == ORGANIZATION_REGISTERED:
                # Issue 22: an organization may hold service accounts (service_layer/organizations.py).
                created = await organization_registered(str(data.get("organization_id", "")), uow)
                logger.info("organization holder created" if created else "organization holder existed",
                            extra={"event_id": event.id})
            elif event.type == RESIDENT_PURGED:
                counts = await resident_purged(resident_id, uow)
                logger.info("resident purged: personal data deleted", extra={"event_id": event.id, **counts})
        except InvalidArgument:
            # A malformed event would be redelivered forever; record it and move on (its id is
            # in the inbox, so it is not applied later either).
            logger.error("identity event without a valid resident_id; skipped",
                         extra={"event_id": event.id, "type": event.type})

    return on_identity_event


#: Without identity (tests of the consumer alone): profiles from the event's data only.
on_resident_registered = identity_event_handler(None)
