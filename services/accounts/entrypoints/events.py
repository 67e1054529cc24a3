"""Events the accounts service consumes: identity's ``resident_registered``.

The consumer (services.common.consumer) applies each event once (inbox) and commits; the
handler only changes state. The event carries no e-mail (docs/contracts.md): the profile starts
with the preferred language, and the resident or an agent fills in the rest.
"""

from __future__ import annotations

import logging

from services.common.errors import InvalidArgument
from services.common.events import CloudEvent

from ..service_layer.commands import RegisterResident
from ..service_layer.handlers import register_resident

logger = logging.getLogger(__name__)

RESIDENT_REGISTERED = "montreal.identity.v1.resident_registered"


async def on_resident_registered(event: CloudEvent, uow) -> None:
    data = event.data or {}
    try:
        created = await register_resident(RegisterResident(resident_id=str(data.get("resident_id", "")),
                                                           preferred_language=data.get("preferred_language")), uow)
    except InvalidArgument:
        # A malformed event would be redelivered forever; record it and move on (its id is in
        # the inbox, so it is not applied later either).
        logger.error("resident_registered event without a valid resident_id; skipped",
                     extra={"event_id": event.id})
        return
    logger.info("profile created" if created else "profile existed (enrolled first)",
                extra={"event_id": event.id})
