"""Events identity consumes (issue 22): consent's ``minor_turned_fourteen`` becomes the minor's
notice, ``mandates_at_fourteen_notice``, for the mail sender — identity alone knows the
resident's address and language. Durable consumer ``identity-consent`` on MTLID_CONSENT
(its NATS permissions: deploy/k8s/base/nats.yaml)."""

from __future__ import annotations

import logging

from services.common.events import CloudEvent
from services.identity.domain.events import MandatesAtFourteenNotice

logger = logging.getLogger(__name__)

async def on_minor_turned_fourteen(event: CloudEvent, uow) -> None:
    """No account, a closed one or no address: no notice (their "Mes procurations" shows the
    same once they sign in, and the counter prints it with their file)."""
    data = event.data if isinstance(event.data, dict) else {}
    resident = await uow.residents.get(str(data.get("resident_id", "")))
    if resident is None or resident.disabled or not resident.email:
        logger.info("no notice at fourteen: no account or no address", extra={"event_id": event.id})
        return
    turned = str(data.get("turned_14_at", ""))
    uow.add_event(MandatesAtFourteenNotice(
        resident_id=resident.resident_id, email=resident.email, turned_14_at=turned,
        mandates=tuple(str(m) for m in data.get("mandates", ())), language=resident.preferred_language or "fr"))


CONSENT_SUBJECTS = {"montreal.consent.v1.minor_turned_fourteen": on_minor_turned_fourteen}


async def handle(event: CloudEvent, uow) -> None:
    handler = CONSENT_SUBJECTS.get(event.type)
    if handler is not None:
        await handler(event, uow)
