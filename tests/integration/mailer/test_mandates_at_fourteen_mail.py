"""Issue 22, outside in: a minor with an account turns 14. The counter recorded the parent's
authority (consent, real gRPC); consent's daily round, on a clock we set to the day after the
14th birthday, writes the ``mandate_narrowed`` facts and its ``minor_turned_fourteen`` event;
identity's consumer turns it into the minor's notice at their address, in their language;
the mailer sends it to a real SMTP relay. Real services, one real nats-server."""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf.timestamp_pb2 import Timestamp

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import make_channel
from services.common.nats import free_port
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.service_layer import mandates as mh
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.service_layer import authentication as auth
from tests.integration.mailer.smtp import make_certificate, smtp_relay
from tests.integration.mailer.test_mailer import _mail, _mailer_settings, _until, running_mailer

EIGHTEENTH = dt.datetime(2031, 3, 2, 5, tzinfo=dt.timezone.utc)   # midnight in Montréal
FOURTEENTH = dt.datetime(2027, 3, 2, 5, tzinfo=dt.timezone.utc)


async def test_a_minor_turning_14_is_told_in_their_language_and_the_parent_no_longer_consents(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    minter = TokenMinter()
    email = f"ado-{uuid.uuid4().hex[:8]}@example.ca"
    parent = CitizenNumber.new().canonical
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_service("identity", nats_url=server.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as identity, \
                running_service("consent", nats_url=server.url, minter=minter) as consent, \
                running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            minor = await auth.register_resident(auth.RegisterResident(email, "une phrase de passe", "en",
                                                                       "192.0.2.5"), identity.identity.uow_factory())
            assert await _until(lambda: len(relay.received) == 1)   # the sign-up code

            channel = make_channel(f"127.0.0.1:{consent.bound_grpc_port}", telemetry=False)
            ledger = consent_pb2_grpc.ConsentServiceStub(channel)
            until = Timestamp()
            until.FromDatetime(EIGHTEENTH)
            agent = (("authorization", "Bearer " + minter.mint("counter-console", ["consent:agent"],
                                                               "urn:mtlid:consent", acting_for="AG0123456789")),)
            mandate = (await ledger.GiveMandate(consent_pb2.GiveMandateRequest(
                represented_id=minor, mandatary_id=parent, grantor_id=parent,
                basis=consent_pb2.MANDATE_BASIS_PARENTAL_AUTHORITY,
                scope=[consent_pb2.MandateScope(service="*", actions=["view", "request", "pay", "consent"])],
                valid_until_time=until, document_kind="birth_certificate", document_reference="QC-2013-0042"),
                metadata=agent)).mandate
            await channel.close()

            # The daily round, on the day after the birthday (our clock).
            store = LedgerStore(consent.session_factory, consent.settings.key_encryption_key)
            try:
                count = await mh.narrow_at_fourteen(ConsentUnitOfWork(store, on_commit=consent.on_commit),
                                                    now=FOURTEENTH + dt.timedelta(hours=20))
                [decision] = await mh.decide([mh.commands.MandateQuestion(parent, minor, "montreal-library",
                                                                          "consent")],
                                             ConsentUnitOfWork(store), now=FOURTEENTH + dt.timedelta(hours=21))
            finally:
                await store.aclose()
            assert count == 1 and (decision.allowed, decision.reason) == (False, "ACTION_NOT_COVERED")
            # Both sides see it: the parent's and the minor's listings, over gRPC.
            channel = make_channel(f"127.0.0.1:{consent.bound_grpc_port}", telemetry=False)
            ledger = consent_pb2_grpc.ConsentServiceStub(channel)
            for who, side in ((parent, "received"), (minor, "given")):
                token = minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=who)
                listing = await ledger.ListMandates(consent_pb2.ListMandatesRequest(resident_id=who),
                                                    metadata=(("authorization", f"Bearer {token}"),))
                [seen] = getattr(listing, side)
                assert (seen.mandate_id, seen.narrow_reason) == (mandate.mandate_id, "minor_turned_14")
                assert seen.narrow_time.ToDatetime(tzinfo=dt.timezone.utc) == FOURTEENTH
                assert [list(i.actions) for i in seen.scope] == [["pay", "request", "view"]]
            await channel.close()
            assert await _until(lambda: len(relay.received) == 2), "no notice reached the minor"
    notice, text = _mail(relay.received[1])
    assert relay.received[1].recipients == [email]
    assert notice["X-Mtlid-Mail"] == "mandates_at_fourteen_notice"
    assert notice["Subject"].startswith("Vous avez 14 ans") and "You are 14" in notice["Subject"]
    assert text.index("Bonjour") < text.index("Hello")   # the minor chose English: it follows
    assert "Autorité parentale — peut encore, pour vous : consulter, faire des demandes, payer" in text
    assert "Parental authority — may still, for you: view, make requests, pay" in text
    assert "2027-03-02" in text and "« Mes procurations »" in text
    assert parent not in text and mandate.mandate_id not in text   # nobody's identifier in a mail
    assert mailer.queue.dead_lettered == 0
