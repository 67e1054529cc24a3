"""``oidc.ports.Names`` over the accounts service's gRPC API (issue 22, "which shows both names").

Identity holds no names: they live in accounts (``oidc/claims.py``). For an ID token on
someone's behalf at a relying party that accepts mandates and asked for ``profile``, the token
endpoint reads the two people's ``given_name`` and ``family_name`` with each one's own
``GetProfile`` (a ``resident`` token minted here for that resident, audience accounts, one
minute: the same call as the account pages make; never leaves this process). Reading one's own
profile is not recorded by accounts; what is released to the relying party is recorded by the
token endpoint (``releases.record_token``), on both sides. docs/mandates.md states the choice.
"""

from __future__ import annotations

import logging

import grpc

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from services.common.grpc.client import make_channel
from services.identity.http.account.backends import ACCOUNTS_AUDIENCE, resident_token

log = logging.getLogger(__name__)
DEADLINE = 3.0
NAME_ATTRIBUTES = ("given_name", "family_name")


class GrpcNames:
    def __init__(self, target: str, provider) -> None:
        self.target = target
        self.provider = provider
        self._channel = None

    def _stub(self):
        if self._channel is None:
            self._channel = make_channel(self.target, default_deadline=DEADLINE)
        return accounts_pb2_grpc.AccountsServiceStub(self._channel)

    async def names_of(self, resident_id: str) -> dict[str, str]:
        """``{"given_name": …, "family_name": …}`` as far as the profile holds them; ``{}`` when
        accounts cannot answer (the token is then issued without names, never refused)."""
        token = resident_token(self.provider, resident_id, ACCOUNTS_AUDIENCE)
        try:
            reply = await self._stub().GetProfile(apb.GetProfileRequest(resident_id=resident_id),
                                                  metadata=(("authorization", f"Bearer {token}"),), timeout=DEADLINE)
        except grpc.aio.AioRpcError as error:
            log.warning("accounts unreachable for names", extra={"code": error.code().name})
            return {}
        return {a.name: a.value for a in reply.profile.attributes if a.name in NAME_ATTRIBUTES and a.value}

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
