"""The HTTP front inside ``mtlid serve identity``'s runtime: health, discovery, and a token
revoked at /revoke that identity's gRPC ValidateToken then reports inactive."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from montreal.identity.v1 import identity_pb2 as pb
from montreal.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.grpc.client import StaticToken, make_channel
from services.common.testing.services import running_service
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.domain.clients import OAuthClient, hash_client_secret
from tests.integration.identity_oidc.conftest import SECRET, free_port


async def wait_until_up(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the HTTP front did not start")


@contextlib.asynccontextmanager
async def identity_serving(clients: dict[str, str]):
    """``mtlid serve identity`` with its HTTP front up, and a client-credentials client (secret
    ``SECRET``, audience identity) per ``client_id: scope``; yields (runtime, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_service("identity", nats_url=None,
                               env={"MTLID_HTTP_PORT": str(port), "MTLID_ISSUER": base}) as runtime:
        await wait_until_up(base)
        async with OAuthUnitOfWork(runtime.session_factory) as uow:
            for client_id, scope in clients.items():
                await uow.clients.add(OAuthClient(
                    client_id=client_id, name=client_id, secret_hash=hash_client_secret(SECRET),
                    grant_types=("client_credentials",), scopes=(scope,), audiences=("urn:mtlid:identity",)))
            await uow.commit()
        yield runtime, base


async def test_http_front_in_the_identity_runtime():
    async with identity_serving({"validator": "identity:validate"}) as (runtime, base):
        async with httpx.AsyncClient() as http:
            meta = (await http.get(base + "/.well-known/openid-configuration")).json()
            assert meta["issuer"] == base
            caller, checked = [
                (await http.post(base + "/token", data={"grant_type": "client_credentials"},
                                 auth=("validator", SECRET))).json()["access_token"] for _ in range(2)]
            channel = make_channel(f"127.0.0.1:{runtime.bound_grpc_port}", token_provider=StaticToken(caller))
            stub = pb_grpc.IdentityServiceStub(channel)
            assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=checked))).active is True
            assert (await http.post(base + "/revoke", data={"token": checked},
                                    auth=("validator", SECRET))).status_code == 200
            assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=checked))).active is False
            await channel.close()


async def test_the_running_service_takes_a_dpop_proof_once():
    """``mtlid serve identity`` as deployed: a proof (RFC 9449 s. 11.1) is accepted once, and on
    PostgreSQL it is recorded by the service's own writable statement pool (``mtlid-writes``),
    not a unit of work."""
    from sqlalchemy import text

    from services.common.testing.dpop import ProofMaker

    async with identity_serving({"app-311": "identity:validate"}) as (runtime, base):
        client = ProofMaker()
        data = {"grant_type": "client_credentials"}
        async with httpx.AsyncClient() as http:
            asked = await http.post(base + "/token", data=data, auth=("app-311", SECRET),
                                    headers={"DPoP": client.proof("POST", base + "/token")})
            assert asked.json()["error"] == "use_dpop_nonce"
            proof = client.proof("POST", base + "/token", nonce=asked.headers["dpop-nonce"])
            granted = await http.post(base + "/token", data=data, auth=("app-311", SECRET), headers={"DPoP": proof})
            assert granted.status_code == 200 and granted.json()["token_type"] == "DPoP", granted.text
            replayed = await http.post(base + "/token", data=data, auth=("app-311", SECRET), headers={"DPoP": proof})
            assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_dpop_proof")
        async with runtime.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM oauth_dpop_proofs"))).scalar_one() == 1
            if runtime.engine.url.get_backend_name() == "postgresql":
                writers = (await connection.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mtlid-writes'"
                    " AND datname = current_database()"))).scalar_one()
                assert writers >= 1


async def test_a_client_disabled_over_grpc_gets_no_token_from_the_running_provider():
    """An operator's console (a client with ``identity:admin``) disables a partner's client with
    UpdateClient: its next token request is ``invalid_client`` (on PostgreSQL, through the
    provider's client cache, which the change notification empties); enabled again, it works."""
    from google.protobuf import field_mask_pb2

    async with identity_serving({"ops-console": "identity:admin", "partner": "identity:validate"}) as (runtime, base):

        async def token(client_id: str) -> httpx.Response:
            async with httpx.AsyncClient() as http:
                return await http.post(base + "/token", data={"grant_type": "client_credentials"},
                                       auth=(client_id, SECRET))

        assert (await token("partner")).status_code == 200        # and now in the provider's cache
        admin = (await token("ops-console")).json()["access_token"]
        channel = make_channel(f"127.0.0.1:{runtime.bound_grpc_port}", token_provider=StaticToken(admin))
        stub = pb_grpc.IdentityServiceStub(channel)
        disabled = pb.Client(client_id="partner", disabled=True)
        mask = field_mask_pb2.FieldMask(paths=["disabled"])
        await stub.UpdateClient(pb.UpdateClientRequest(client=disabled, update_mask=mask))
        for _ in range(50):   # PostgreSQL: the notification reaches the cache within moments
            refused = await token("partner")
            if refused.status_code != 200:
                break
            await asyncio.sleep(0.1)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        await stub.UpdateClient(pb.UpdateClientRequest(client=pb.Client(client_id="partner", disabled=False),
                                                       update_mask=mask))
        for _ in range(50):
            again = await token("partner")
            if again.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        await channel.close()
