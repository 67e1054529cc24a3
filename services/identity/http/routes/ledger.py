"""GET /ledger/keys and /ledger/tree-head: the consent ledger's public proofs, over HTTP.

RFC 9162 s. 2.1 tamper evidence is only useful if outsiders can hold the log to account:
auditors and residents' browsers fetch the tree-head key (a JWKS) and the latest signed tree
head here, read-only and without credentials, keep the head, and later ask for a
consistency proof. The identity front only relays the consent service's public gRPC
answers (``GetLogKeys``, ``GetSignedTreeHead``); it computes and signs nothing itself.
The tree head is shaped exactly as ``mtlid ledger tree-head`` prints it, so a saved copy
feeds ``mtlid ledger verify --tree-head``.
"""

from __future__ import annotations

import base64
import json

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import CHANNEL_OPTIONS

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _stub(request: Request) -> consent_pb2_grpc.ConsentServiceStub:
    state = request.app.state
    stub = getattr(state, "consent_stub", None)
    if stub is None:
        # One channel per process, opened on first use (the consent service may start later).
        state.consent_channel = grpc.aio.insecure_channel(state.consent_target, options=CHANNEL_OPTIONS)
        stub = state.consent_stub = consent_pb2_grpc.ConsentServiceStub(state.consent_channel)
    return stub


def _unavailable() -> JSONResponse:
    return JSONResponse({"error": "temporarily_unavailable",
                         "error_description": "the consent ledger does not answer; try again"},
                        status_code=503, headers={**_HEADERS, "Retry-After": "5"})


async def ledger_keys(request: Request) -> Response:
    try:
        reply = await _stub(request).GetLogKeys(consent_pb2.GetLogKeysRequest(), timeout=3)
    except grpc.aio.AioRpcError:
        return _unavailable()
    return Response(reply.jwks_json, media_type="application/jwk-set+json", headers=_HEADERS)


async def ledger_tree_head(request: Request) -> Response:
    try:
        reply = await _stub(request).GetSignedTreeHead(consent_pb2.GetSignedTreeHeadRequest(), timeout=3)
    except grpc.aio.AioRpcError:
        return _unavailable()
    head = reply.signed_tree_head
    body = {"tree_size": head.tree_size,
            "root_hash": base64.urlsafe_b64encode(head.root_hash).rstrip(b"=").decode(),
            "timestamp": head.timestamp.ToMilliseconds(), "jws": head.jws, "key_id": head.key_id}
    return Response(json.dumps(body), media_type="application/json", headers=_HEADERS)


routes = [Route("/ledger/keys", ledger_keys, methods=["GET"]),
          Route("/ledger/tree-head", ledger_tree_head, methods=["GET"])]
