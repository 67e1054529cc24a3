"""DPoP across the real system (``mtlid up``): identity issues a DPoP-bound token to a client
registered with ``--require-dpop``, and the accounts service — another process, verifying
locally with identity's JWKS — accepts it only with a proof of the key over gRPC
(``services/common/grpc/dpop_binding.py``: htm ``POST``, htu ``https://<authority>/<Method>``).
Proofs are built with joserfc by the test client."""

from __future__ import annotations

import grpc
import httpx
import pytest

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from services.common.grpc.client import rpc_error_details
from services.common.testing.dpop import ProofMaker

pytestmark = pytest.mark.e2e

RELEASE = "/montreal.accounts.v1.AccountsService/ReleaseAttributes"


def dpop_token(system, client_id: str, secret: str, holder: ProofMaker) -> httpx.Response:
    url = system.issuer + "/token"
    data = {"grant_type": "client_credentials", "scope": "accounts:release", "resource": "urn:mtlid:accounts"}
    for _attempt in range(2):
        answer = httpx.post(url, data=data, auth=(client_id, secret), timeout=10,
                            headers={"DPoP": holder.proof("POST", url)})
        holder.nonce = answer.headers.get("DPoP-Nonce", holder.nonce)
        if answer.status_code != 400 or answer.json()["error"] != "use_dpop_nonce":
            return answer
    return answer


def release(system, metadata) -> grpc.RpcError:
    with grpc.insecure_channel(system.target("accounts")) as channel:
        with pytest.raises(grpc.RpcError) as answered:
            accounts_pb2_grpc.AccountsServiceStub(channel).ReleaseAttributes(apb.ReleaseAttributesRequest(
                service_id="montreal-ca", resident_id="A1B2C3D4E5F6", purpose_id="communication",
                attributes=["email"]), metadata=metadata, timeout=10)
    return answered.value


def test_a_dpop_bound_token_from_identity_works_at_accounts_only_with_a_proof(system):
    created = system.cli("client", "create", "--name", "Application 311", "--grant-type", "client_credentials",
                         "--scope", "accounts:release", "--audience", "urn:mtlid:accounts", "--require-dpop")
    client_id, secret = created["client_id"], created["client_secret"]
    without = httpx.post(system.issuer + "/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "client_credentials", "scope": "accounts:release", "resource": "urn:mtlid:accounts"})
    assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof"

    holder = ProofMaker()
    answer = dpop_token(system, client_id, secret, holder)
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
    token = answer.json()["access_token"]
    proof = holder.proof("POST", f"https://accounts.montreal.ca{RELEASE}", access_token=token)

    # with its proof the call is authenticated: accounts knows the caller, and refuses this
    # client another service's release (its own rule, after authentication)
    admitted = release(system, (("authorization", f"DPoP {token}"), ("dpop", proof)))
    assert rpc_error_details(admitted)[::2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SERVICE")
    # the same proof again, the token as Bearer, or another key's proof: refused
    refusals = {
        "replayed": (("authorization", f"DPoP {token}"), ("dpop", proof)),
        "as bearer": (("authorization", f"Bearer {token}"),),
        "other key": (("authorization", f"DPoP {token}"),
                      ("dpop", ProofMaker().proof("POST", f"https://accounts.montreal.ca{RELEASE}", access_token=token))),
    }
    reasons = {name: rpc_error_details(release(system, metadata))[::2] for name, metadata in refusals.items()}
    assert reasons == {"replayed": (grpc.StatusCode.UNAUTHENTICATED, "DPOP_PROOF_INVALID"),
                       "as bearer": (grpc.StatusCode.UNAUTHENTICATED, "DPOP_REQUIRED"),
                       "other key": (grpc.StatusCode.UNAUTHENTICATED, "DPOP_PROOF_INVALID")}
