"""The account pages' calls to the accounts and consent services, on the resident's behalf.

Each call carries a short-lived access token minted here for the signed-in resident
(RFC 9068: ``typ at+jwt``, ``sub`` = their resident id, ``scope resident``, one audience per
service, docs/contracts.md), signed with identity's own key ring — the same one the OpenID
provider signs with, so the services verify it against the published JWKS. The token never
leaves this process: the browser only ever holds its session cookie.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.grpc.client import make_channel, rpc_error_details
from services.identity.oidc.tokens import mint_access_token

#: The ``client_id`` of tokens minted for the account pages (the city's own front end).
ACCOUNT_PAGES_CLIENT_ID = "mtlid-account-pages"
ACCOUNTS_AUDIENCE = "urn:mtlid:accounts"
CONSENT_AUDIENCE = "urn:mtlid:consent"
#: One page view needs a few calls within a second or two; a minute covers a slow backend.
TOKEN_LIFETIME = 60
CALL_DEADLINE = 5.0


#: pages of 100 history entries the access page reads at most (see ``account_life_entries``)
ACCOUNT_LIFE_PAGES = 10

class BackendError(Exception):
    """A call to accounts or consent failed. ``code`` is the gRPC status name,
    ``violations`` the field violations (INVALID_ARGUMENT), ``reason`` the ErrorInfo reason."""

    def __init__(self, code: str, violations: dict[str, str] | None = None, reason: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.violations = violations or {}
        self.reason = reason

    @property
    def unavailable(self) -> bool:
        return self.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNAUTHENTICATED", "INTERNAL", "UNKNOWN")


def resident_token(provider, resident_id: str, audience: str, session_id: str | None = None,
                   auth_time: int | None = None) -> str:
    """``auth_time``: when the resident last proved who they are, signed here for a service
    that must judge it itself (consent's biometric rule; RFC 9068 s. 2.2.1)."""
    now = int(time.time())
    extra = {"exp": now + TOKEN_LIFETIME}
    if session_id:
        extra["sid"] = session_id
    if auth_time is not None:
        extra["auth_time"] = auth_time
    token, _claims = mint_access_token(provider.keys, provider.config, subject=resident_id,
                                       client_id=ACCOUNT_PAGES_CLIENT_ID, audience=audience, scope="resident",
                                       extra=extra, now=now)
    return token


@dataclass
class Backends:
    """One channel per service for the process (gRPC multiplexes every page view over it)."""

    accounts: accounts_pb2_grpc.AccountsServiceStub
    consent: consent_pb2_grpc.ConsentServiceStub
    channels: tuple

    @classmethod
    def connect(cls, accounts_target: str, consent_target: str) -> "Backends":
        a = make_channel(accounts_target, default_deadline=CALL_DEADLINE)
        c = make_channel(consent_target, default_deadline=CALL_DEADLINE)
        return cls(accounts_pb2_grpc.AccountsServiceStub(a), consent_pb2_grpc.ConsentServiceStub(c), (a, c))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


class ResidentClient:
    """The calls one signed-in resident may make (their own data only)."""

    def __init__(self, backends: Backends, provider, resident_id: str, session_id: str | None = None) -> None:
        self.b = backends
        self.resident_id = resident_id
        self._provider, self._session_id = provider, session_id
        self._tokens = {aud: resident_token(provider, resident_id, aud, session_id)
                        for aud in (ACCOUNTS_AUDIENCE, CONSENT_AUDIENCE)}

    def _md(self, audience: str):
        return (("authorization", f"Bearer {self._tokens[audience]}"),)

    async def _call(self, method, request, audience: str):
        try:
            return await method(request, metadata=self._md(audience))
        except grpc.aio.AioRpcError as error:
            code, violations, reason = rpc_error_details(error)
            raise BackendError(code.name, violations, reason) from None

    # --- accounts -----------------------------------------------------------------------
    async def profile(self) -> apb.Profile | None:
        try:
            reply = await self._call(self.b.accounts.GetProfile, apb.GetProfileRequest(resident_id=self.resident_id),
                                     ACCOUNTS_AUDIENCE)
        except BackendError as error:
            if error.code == "NOT_FOUND":  # the profile is created from resident_registered, a moment later
                return None
            raise
        return reply.profile

    async def update_profile(self, changes: list[tuple[str, str | None]]) -> apb.Profile:
        request = apb.UpdateProfileRequest(resident_id=self.resident_id, changes=[
            apb.AttributeChange(name=n, clear=True) if v is None else apb.AttributeChange(name=n, value=v)
            for n, v in changes])
        return (await self._call(self.b.accounts.UpdateProfile, request, ACCOUNTS_AUDIENCE)).profile

    async def accounts(self) -> list[apb.ServiceAccount]:
        out, token = [], ""
        for _ in range(10):
            reply = await self._call(self.b.accounts.ListAccounts, apb.ListAccountsRequest(
                resident_id=self.resident_id, page_size=200, page_token=token), ACCOUNTS_AUDIENCE)
            out += list(reply.accounts)
            token = reply.next_page_token
            if not token:
                break
        return out

    async def services(self) -> dict[str, apb.Service]:
        out, token = {}, ""
        for _ in range(10):
            reply = await self._call(self.b.accounts.ListServices, apb.ListServicesRequest(
                page_size=200, page_token=token), ACCOUNTS_AUDIENCE)
            out.update((s.service_id, s) for s in reply.services)
            token = reply.next_page_token
            if not token:
                break
        return out

    async def request_unlink(self, account_id: str) -> None:
        await self._call(self.b.accounts.RequestUnlink, apb.RequestUnlinkRequest(account_id=account_id),
                         ACCOUNTS_AUDIENCE)

    async def accounts_export(self) -> bytes:
        try:
            reply = await self._call(self.b.accounts.ExportResidentData,
                                     apb.ExportResidentDataRequest(resident_id=self.resident_id), ACCOUNTS_AUDIENCE)
        except BackendError as error:
            if error.code == "NOT_FOUND":  # no profile yet (resident_registered not applied): nothing held
                return b""
            raise
        return reply.document

    # --- consent ------------------------------------------------------------------------
    async def consents(self, include_inactive: bool) -> list[cpb.Consent]:
        out, token = [], ""
        for _ in range(20):
            reply = await self._call(self.b.consent.ListConsents, cpb.ListConsentsRequest(
                resident_id=self.resident_id, include_inactive=include_inactive, page_size=100, page_token=token),
                CONSENT_AUDIENCE)
            out += list(reply.consents)
            token = reply.next_page_token
            if not token:
                break
        return out

    async def grant(self, recipient_id: str, purpose_id: str, language: str,
                    data_categories: tuple[str, ...] = ()) -> list[cpb.Consent]:
        """``data_categories`` empty: every category the purpose covers for that service."""
        reply = await self._call(self.b.consent.Grant, cpb.GrantRequest(
            resident_id=self.resident_id, recipient_id=recipient_id,
            items=[cpb.GrantItem(purpose_id=purpose_id, data_categories=list(data_categories))],
            collection_method=cpb.COLLECTION_METHOD_ACCOUNT_PAGE, explicit_act=True, language=language),
            CONSENT_AUDIENCE)
        return list(reply.consents)

    async def grant_biometric(self, recipient_id: str, purpose_id: str, *, expires_at, alternative_id: str,
                              language: str, reauthenticated_at, method: str) -> list[cpb.Consent]:
        """A biometric consent, alone, from the account pages, after a fresh authentication."""
        expire, fresh = Timestamp(), Timestamp()
        expire.FromDatetime(expires_at)
        fresh.FromDatetime(reauthenticated_at)
        # The freshness rides in a token of its own, signed here: consent reads it from the
        # token's auth_time, not from the request (issue 18).
        token = resident_token(self._provider, self.resident_id, CONSENT_AUDIENCE, self._session_id,
                               auth_time=int(reauthenticated_at.timestamp()))
        request = cpb.GrantRequest(
            resident_id=self.resident_id, recipient_id=recipient_id, items=[cpb.GrantItem(
                purpose_id=purpose_id, expire_time=expire, non_biometric_alternative_id=alternative_id)],
            collection_method=cpb.COLLECTION_METHOD_ACCOUNT_PAGE, explicit_act=True, language=language,
            reauthenticated_time=fresh, reauthentication_method=method)
        try:
            reply = await self.b.consent.Grant(request, metadata=(("authorization", f"Bearer {token}"),))
        except grpc.aio.AioRpcError as error:
            code, violations, reason = rpc_error_details(error)
            raise BackendError(code.name, violations, reason) from None
        return list(reply.consents)

    async def withdraw(self, consent_id: str) -> cpb.Consent:
        reply = await self._call(self.b.consent.Withdraw, cpb.WithdrawRequest(
            resident_id=self.resident_id, consent_id=consent_id), CONSENT_AUDIENCE)
        return reply.consent

    async def access_log(self, recipient_id: str, page_size: int, page_token: str) -> cpb.AccessLogResponse:
        return await self._call(self.b.consent.AccessLog, cpb.AccessLogRequest(
            resident_id=self.resident_id, page_size=page_size, page_token=page_token,
            recipient_id=recipient_id), CONSENT_AUDIENCE)

    async def account_life_entries(self) -> list[cpb.LedgerEntry]:
        """In one call, the history's entries the access page shows beside the accesses: the
        services told of the account's closing (issue 21) and the carte citoyenne's revocations
        and renewals (issue 23), oldest first. The history pages oldest first, so every page is
        read (a wallet renews about 26 times a year: a page of 100 holds years of them), at
        most ``ACCOUNT_LIFE_PAGES``."""
        entries: list[cpb.LedgerEntry] = []
        token = ""
        for _ in range(ACCOUNT_LIFE_PAGES):
            reply = await self._call(self.b.consent.History, cpb.HistoryRequest(
                resident_id=self.resident_id, page_size=100, page_token=token,
                types=[cpb.ENTRY_TYPE_SERVICE_INFORMED, cpb.ENTRY_TYPE_CARD_REVOKED, cpb.ENTRY_TYPE_CARD_RENEWED]),
                CONSENT_AUDIENCE)
            entries.extend(reply.entries)
            token = reply.next_page_token
            if not token:
                break
        return entries

    async def receipt(self, consent_id: str) -> cpb.GetReceiptResponse:
        return await self._call(self.b.consent.GetReceipt, cpb.GetReceiptRequest(consent_id=consent_id),
                                CONSENT_AUDIENCE)

    async def mandate_receipt(self, mandate_id: str) -> cpb.GetMandateReceiptResponse:
        return await self._call(self.b.consent.GetMandateReceipt, cpb.GetMandateReceiptRequest(mandate_id=mandate_id),
                                CONSENT_AUDIENCE)

    async def consent_export(self) -> cpb.ExportResponse:
        return await self._call(self.b.consent.Export, cpb.ExportRequest(resident_id=self.resident_id),
                                CONSENT_AUDIENCE)

    async def tree_head(self) -> cpb.GetSignedTreeHeadResponse:
        """The ledger's head with the head its witnesses cosigned (public)."""
        return await self._call(self.b.consent.GetSignedTreeHead, cpb.GetSignedTreeHeadRequest(), CONSENT_AUDIENCE)

    async def inclusion_proof(self, leaf_index: int, tree_size: int) -> cpb.GetInclusionProofResponse:
        """RFC 9162 inclusion proof of one of the resident's own entries (consent refuses others)."""
        return await self._call(self.b.consent.GetInclusionProof, cpb.GetInclusionProofRequest(
            leaf_index=leaf_index, tree_size=tree_size), CONSENT_AUDIENCE)

    async def log_keys(self) -> str:
        return (await self._call(self.b.consent.GetLogKeys, cpb.GetLogKeysRequest(), CONSENT_AUDIENCE)).jwks_json

    async def purposes(self) -> dict[str, cpb.Purpose]:
        reply = await self._call(self.b.consent.ListPurposes, cpb.ListPurposesRequest(), CONSENT_AUDIENCE)
        return {p.purpose_id: p for p in reply.purposes}

    async def categories(self) -> dict[str, cpb.DataCategory]:
        reply = await self._call(self.b.consent.ListDataCategories, cpb.ListDataCategoriesRequest(),
                                 CONSENT_AUDIENCE)
        return {c.category_id: c for c in reply.data_categories}

    async def recipients(self) -> dict[str, cpb.Recipient]:
        reply = await self._call(self.b.consent.ListRecipients, cpb.ListRecipientsRequest(), CONSENT_AUDIENCE)
        return {r.recipient_id: r for r in reply.recipients}

    # --- mandates (issue 22) ------------------------------------------------------------
    async def mandates(self) -> cpb.ListMandatesResponse:
        """Every mandate that concerns the resident (given, received, any state)."""
        given, received, token = [], [], ""
        for _ in range(20):
            reply = await self._call(self.b.consent.ListMandates, cpb.ListMandatesRequest(
                resident_id=self.resident_id, page_size=100, page_token=token), CONSENT_AUDIENCE)
            given += list(reply.given)
            received += list(reply.received)
            token = reply.next_page_token
            if not token:
                break
        return cpb.ListMandatesResponse(given=given, received=received)

    async def organization_mandates(self, organization_id: str) -> cpb.ListMandatesResponse:
        """An organization's file (issue 22): its mandates and the acts under them, which consent
        lets the resident read while representing it (docs/mandates.md "Organizations")."""
        return await self._call(self.b.consent.ListMandates, cpb.ListMandatesRequest(
            resident_id=organization_id, page_size=100), CONSENT_AUDIENCE)

    async def give_mandate(self, mandatary_id: str, scope: list[tuple[str, list[str]]], valid_until) -> cpb.Mandate:
        until = Timestamp()
        until.FromDatetime(valid_until)
        reply = await self._call(self.b.consent.GiveMandate, cpb.GiveMandateRequest(
            represented_id=self.resident_id, mandatary_id=mandatary_id, grantor_id=self.resident_id,
            basis=cpb.MANDATE_BASIS_RESIDENT_CONSENT,
            scope=[cpb.MandateScope(service=s, actions=a) for s, a in scope], valid_until_time=until),
            CONSENT_AUDIENCE)
        return reply.mandate

    async def accept_mandate(self, mandate_id: str) -> cpb.Mandate:
        return (await self._call(self.b.consent.AcceptMandate, cpb.AcceptMandateRequest(mandate_id=mandate_id),
                                 CONSENT_AUDIENCE)).mandate

    async def end_mandate(self, mandate_id: str) -> cpb.Mandate:
        return (await self._call(self.b.consent.EndMandate, cpb.EndMandateRequest(mandate_id=mandate_id),
                                 CONSENT_AUDIENCE)).mandate
