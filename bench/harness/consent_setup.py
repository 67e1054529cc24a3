"""What the consent measures need in place: a recipient, a resident's consent, callers' tokens.

Set up through the consent service's own gRPC API, with tokens the harness mints (the
service verifies them against the JWKS stub, as it verifies identity's in production).
"""

from __future__ import annotations

import dataclasses

from harness.bench import Bench

RECIPIENT = "bench-library"
PURPOSE = "communication"
CATEGORIES = ("email", "phone")
AUDIENCE = "urn:mtlid:consent"


@dataclasses.dataclass(frozen=True)
class ConsentSetup:
    resident_id: str
    check_token: str
    record_token: str
    admin_token: str
    consent_ids: tuple[str, ...] = ()


def new_resident_id() -> str:
    from services.identity.domain.citizen_number import CitizenNumber

    return CitizenNumber.new().canonical


def prepare_consent(bench: Bench, consent, resident_id: str | None = None) -> ConsentSetup:
    """A recipient declared for ``communication`` and one resident who consented to it."""
    key = f"consent-setup@{consent.grpc_target}"
    if key in bench.facts and resident_id is None:
        return bench.facts[key]
    import grpc

    from montreal.consent.v1 import consent_pb2 as pb
    from montreal.consent.v1 import consent_pb2_grpc

    jwks = bench.jwks()
    resident_id = resident_id or new_resident_id()
    admin = jwks.mint("bench-operator", ["consent:admin"], AUDIENCE)
    resident = jwks.minter.mint("montreal-ca", ["resident"], AUDIENCE, subject=resident_id)
    with grpc.insecure_channel(consent.grpc_target) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        if key not in bench.facts:
            stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
                recipient_id=RECIPIENT, client_id=RECIPIENT, name_fr="Bibliothèque (banc d'essai)",
                name_en="Library (benchmark)", kind="municipal", owner="Ville de Montréal",
                purposes=[PURPOSE], data_categories=list(CATEGORIES))),
                metadata=[("authorization", f"Bearer {admin}")], timeout=10)
        stub.Grant(pb.GrantRequest(resident_id=resident_id, recipient_id=RECIPIENT, items=[
            pb.GrantItem(purpose_id=PURPOSE, data_categories=list(CATEGORIES))],
            collection_method=pb.COLLECTION_METHOD_ACCOUNT_PAGE, language="fr"),
            metadata=[("authorization", f"Bearer {resident}")], timeout=10)
        check = jwks.mint(RECIPIENT, ["consent:check"], AUDIENCE)
        answer = stub.Check(pb.CheckRequest(resident_id=resident_id, recipient_id=RECIPIENT, purpose_id=PURPOSE,
                                            data_categories=list(CATEGORIES)),
                            metadata=[("authorization", f"Bearer {check}")], timeout=10)
        if not all(decision.allowed for decision in answer.decisions):
            raise RuntimeError(f"Check after Grant does not allow: {answer}")
    setup = ConsentSetup(resident_id=resident_id,
                         check_token=jwks.mint(RECIPIENT, ["consent:check"], AUDIENCE),
                         record_token=jwks.mint(RECIPIENT, ["consent:record"], AUDIENCE),
                         admin_token=admin,
                         consent_ids=tuple(sorted({d.consent_id for d in answer.decisions if d.consent_id})))
    bench.facts.setdefault(key, setup)
    return setup


def check_request(setup: ConsentSetup) -> bytes:
    from montreal.consent.v1 import consent_pb2 as pb

    return pb.CheckRequest(resident_id=setup.resident_id, recipient_id=RECIPIENT, purpose_id=PURPOSE,
                           data_categories=list(CATEGORIES)).SerializeToString()
