"""DPoP-bound tokens on a real grpc.aio server (RFC 9449 s. 7 mapped onto gRPC metadata,
``services/common/grpc/dpop_binding.py``): ``authorization: DPoP <token>`` and a ``dpop``
proof with htm ``POST`` and htu ``https://<authority>/<package.Service>/<Method>``. Proofs
are built with joserfc by a test client."""

from __future__ import annotations

import time

import grpc
import grpc.aio
import pytest

from services.common.grpc.client import rpc_error_details
from services.common.testing.dpop import ProofMaker

from .conftest import AUDIENCE, SERVICE

ECHO = f"/{SERVICE}/Echo"


async def echo(probe, server, metadata):
    pb2, pb2_grpc = probe
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
        return await pb2_grpc.ProbeServiceStub(channel).Echo(pb2.EchoRequest(name="a"), metadata=metadata, timeout=5)


async def refused(probe, server, metadata) -> tuple:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await echo(probe, server, metadata)
    code, _, reason = rpc_error_details(caught.value)
    return code, reason


def bound_token(minter, holder: ProofMaker) -> str:
    return minter.mint("permits-spa", ["probe:echo"], AUDIENCE, subject="pairwise-sub",
                       cnf={"jkt": holder.jkt})


def htu(method: str = ECHO) -> str:
    return "https://accounts.montreal.ca" + method


async def test_a_bound_token_with_a_proof_of_its_key_is_admitted(probe, probe_server, minter):
    holder = ProofMaker()
    token = bound_token(minter, holder)
    reply = await echo(probe, probe_server, (("authorization", f"DPoP {token}"),
                                             ("dpop", holder.proof("POST", htu(), access_token=token))))
    assert reply.name == "a"
    # the authority is the client's (an ingress name, a pod address): only the method path counts
    other = holder.proof("POST", "https://10.0.3.7:50052" + ECHO, access_token=token)
    assert (await echo(probe, probe_server, (("authorization", f"DPoP {token}"), ("dpop", other)))).name == "a"


async def test_a_bound_token_presented_as_bearer_is_refused(probe, probe_server, minter):
    holder = ProofMaker()
    token = bound_token(minter, holder)
    proof = holder.proof("POST", htu(), access_token=token)
    assert await refused(probe, probe_server, (("authorization", f"Bearer {token}"), ("dpop", proof))) == (
        grpc.StatusCode.UNAUTHENTICATED, "DPOP_REQUIRED")


@pytest.mark.parametrize("wrong", ["no proof", "htm", "method", "service", "http", "ath", "stale iat",
                                   "other key", "typ", "two proofs", "broken uri"])
async def test_a_wrong_proof_is_refused(probe, probe_server, minter, wrong):
    holder = ProofMaker()
    token = bound_token(minter, holder)
    proofs = {
        "no proof": [],
        "htm": [holder.proof("GET", htu(), access_token=token)],
        "method": [holder.proof("POST", htu(f"/{SERVICE}/WhoAmI"), access_token=token)],
        "service": [holder.proof("POST", htu("/montreal.consent.v1.ConsentService/Echo"), access_token=token)],
        "http": [holder.proof("POST", "http://accounts.montreal.ca" + ECHO, access_token=token)],
        "ath": [holder.proof("POST", htu(), access_token=token + "x")],
        "stale iat": [holder.proof("POST", htu(), access_token=token, iat=int(time.time()) - 300)],
        "other key": [ProofMaker().proof("POST", htu(), access_token=token)],
        "typ": [holder.proof("POST", htu(), access_token=token, typ="JWT")],
        "two proofs": [holder.proof("POST", htu(), access_token=token)] * 2,
        "broken uri": [holder.proof("POST", "https://[::1" + ECHO, access_token=token)],
    }[wrong]
    metadata = (("authorization", f"DPoP {token}"), *(("dpop", p) for p in proofs))
    assert await refused(probe, probe_server, metadata) == (grpc.StatusCode.UNAUTHENTICATED, "DPOP_PROOF_INVALID")


async def test_a_replayed_proof_is_refused(probe, probe_server, minter):
    holder = ProofMaker()
    token = bound_token(minter, holder)
    metadata = (("authorization", f"DPoP {token}"), ("dpop", holder.proof("POST", htu(), access_token=token)))
    assert (await echo(probe, probe_server, metadata)).name == "a"
    assert await refused(probe, probe_server, metadata) == (grpc.StatusCode.UNAUTHENTICATED, "DPOP_PROOF_INVALID")


async def test_an_unbound_token_under_the_dpop_scheme_is_refused(probe, probe_server, minter, probe_token):
    proof = ProofMaker().proof("POST", htu(), access_token=probe_token)
    assert await refused(probe, probe_server, (("authorization", f"DPoP {probe_token}"), ("dpop", proof))) == (
        grpc.StatusCode.UNAUTHENTICATED, "DPOP_NOT_BOUND")
    # and a bearer token goes on working as before
    assert (await echo(probe, probe_server, (("authorization", f"Bearer {probe_token}"),))).name == "a"
