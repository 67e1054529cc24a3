"""``OutgoingCalls`` (adapters/outgoing.py): the metadata of accounts' calls to consent and
identity — the service's bearer token (RFC 6750 s. 2.1) and the request id being served."""

from __future__ import annotations

from services.accounts.adapters.outgoing import OutgoingCalls
from services.common.grpc.interceptors import request_id_var


class RotatingTokens:
    """A token provider whose token changes when told (as a refreshed one would)."""

    def __init__(self):
        self.token = "token-one"
        self.asked = 0

    async def __call__(self):
        self.asked += 1
        return self.token


async def test_the_token_is_asked_every_call_and_its_header_rebuilt_only_when_it_changes():
    tokens = RotatingTokens()
    calls = OutgoingCalls("127.0.0.1:1", tokens, telemetry=False)
    try:
        first = await calls.metadata()
        assert first == (("authorization", "Bearer token-one"),)
        assert await calls.metadata() is first            # kept, not rebuilt
        tokens.token = "token-two"
        assert await calls.metadata() == (("authorization", "Bearer token-two"),)
        assert tokens.asked == 3                          # the provider decides about expiry
    finally:
        await calls.close()


async def test_the_request_id_of_the_call_being_served_goes_along():
    calls = OutgoingCalls("127.0.0.1:1", RotatingTokens(), telemetry=False)
    reset = request_id_var.set("req-42")
    try:
        assert await calls.metadata() == (("authorization", "Bearer token-one"), ("x-request-id", "req-42"))
    finally:
        request_id_var.reset(reset)
        await calls.close()


async def test_without_credentials_no_authorization_is_sent():
    calls = OutgoingCalls("127.0.0.1:1", None, telemetry=False)
    try:
        assert await calls.metadata() == ()               # the callee refuses: releases fail closed
    finally:
        await calls.close()
