"""``oidc.ports.ConsentTerms`` over the consent register's public gRPC catalogue.

The consent screen words each purpose as the register does (the same version the consent
will point at) and offers only what the client's service declared. The catalogue changes
rarely; it is read at most every :data:`FRESH_SECONDS` per process, and the last one read is
kept when a refresh fails. A process that has never reached the register has no catalogue
(``None``): the consent screen of a client with purposes is then the "temporarily
unavailable" page (``oidc/consent.py``): a purpose is never asked in words the register does
not hold.
"""

from __future__ import annotations

import logging
import time

import grpc

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.grpc.client import make_channel
from services.identity.oidc.ports import CategoryTerms, ClientTerms, PurposeTerms

log = logging.getLogger(__name__)

FRESH_SECONDS = 30.0
DEADLINE = 2.0
BASES = {cpb.LEGAL_BASIS_CONSENT: "consent", cpb.LEGAL_BASIS_PUBLIC_TASK: "public_task",
         cpb.LEGAL_BASIS_LEGAL_OBLIGATION: "legal_obligation"}


class GrpcConsentTerms:
    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = None
        self._read_at = 0.0
        self._catalogue: tuple[dict, dict, dict] | None = None

    async def _load(self) -> tuple[dict, dict, dict] | None:
        if self._catalogue is not None and time.monotonic() - self._read_at < FRESH_SECONDS:
            return self._catalogue
        if self._channel is None:
            self._channel = make_channel(self.target, default_deadline=DEADLINE)
        stub = consent_pb2_grpc.ConsentServiceStub(self._channel)
        try:
            purposes = (await stub.ListPurposes(cpb.ListPurposesRequest(), timeout=DEADLINE)).purposes
            categories = (await stub.ListDataCategories(cpb.ListDataCategoriesRequest(),
                                                        timeout=DEADLINE)).data_categories
            recipients = (await stub.ListRecipients(cpb.ListRecipientsRequest(), timeout=DEADLINE)).recipients
        except grpc.aio.AioRpcError as error:
            log.warning("consent register unreachable for the consent screen", extra={"code": error.code().name})
            return self._catalogue  # the last one read, if any, rather than nothing
        self._catalogue = ({p.purpose_id: p for p in purposes}, {c.category_id: c for c in categories},
                           {r.client_id: r for r in recipients if r.client_id})
        self._read_at = time.monotonic()
        return self._catalogue

    async def for_client(self, client_id: str) -> ClientTerms | None:
        catalogue = await self._load()
        if catalogue is None:
            return None
        purposes, categories, by_client = catalogue
        recipient = by_client.get(client_id)
        if recipient is None:
            return ClientTerms(None, {})
        declared = set(recipient.data_categories)
        out = {}
        for purpose_id in recipient.purposes:
            p = purposes.get(purpose_id)
            if p is None or p.biometric:
                continue
            cats = tuple(CategoryTerms(c, categories[c].label_fr, categories[c].label_en)
                         for c in p.data_categories if c in declared and c in categories)
            out[purpose_id] = PurposeTerms(purpose_id, BASES.get(p.legal_basis, "consent"), p.title_fr, p.title_en,
                                           p.description_fr, p.description_en, cats)
        return ClientTerms(recipient.recipient_id, out)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
