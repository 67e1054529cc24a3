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
import math

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import CHANNEL_OPTIONS, retry_delay, rpc_error_details

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
RATE_EXCEEDED = "COSIGNATURE_RATE_EXCEEDED"  # consent's AddCosignature, per witness


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
            "timestamp": head.timestamp.ToMilliseconds(), "jws": head.jws, "key_id": head.key_id,
            "origin": reply.origin, "witnesses": witnesses_json(reply)}
    return Response(json.dumps(body), media_type="application/json", headers=_HEADERS)


def witnesses_json(reply: consent_pb2.GetSignedTreeHeadResponse) -> dict:
    """The latest head witnesses cosigned, beside the log's own (LEDGER.md "Witnesses")."""
    witnessed = reply.witnessed
    return {"quorum": reply.witness_quorum, "cosigned_tree_size": witnessed.tree_size,
            "cosigned_root_hash": base64.urlsafe_b64encode(witnessed.root_hash).rstrip(b"=").decode(),
            "count": len(witnessed.cosignatures), "below_quorum": witnessed.below_quorum,
            "cosignatures": [{"witness": c.witness, "key_id": c.key_id.hex(), "cosigned_at": c.cosigned_at,
                              "line": c.line} for c in witnessed.cosignatures],
            "note": witnessed.note}


def _bad_request(description: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": description}, status_code=400,
                        headers=_HEADERS)


async def ledger_consistency(request: Request) -> Response:
    """RFC 9162 s. 2.1.4 consistency proof between two sizes (``?first=m&second=n``, n
    optional: the current size), for witnesses and auditors with nothing but HTTP."""
    try:
        first = int(request.query_params.get("first", ""))
        second = int(request.query_params.get("second") or 0)
    except ValueError:
        return _bad_request("first (and second, if given) must be whole numbers")
    try:
        reply = await _stub(request).GetConsistencyProof(consent_pb2.GetConsistencyProofRequest(
            first_tree_size=first, second_tree_size=second), timeout=3)
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return _bad_request(error.details() or "invalid sizes")
        return _unavailable()
    body = {"first": reply.first_tree_size, "second": reply.second_tree_size,
            "proof": [base64.b64encode(node).decode() for node in reply.proof]}
    return Response(json.dumps(body), media_type="application/json", headers=_HEADERS)


async def ledger_cosignatures(request: Request) -> Response:
    """A witness submits its cosignature: the body is a C2SP signed note (text/plain)."""
    body = await request.body()
    if len(body) > 8192:
        return _bad_request("a signed note is at most 8 KiB")
    try:
        note = body.decode("utf-8")
    except UnicodeDecodeError:
        return _bad_request("the note must be UTF-8 text")
    try:
        reply = await _stub(request).AddCosignature(consent_pb2.AddCosignatureRequest(note=note), timeout=5)
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            status = 409 if error.code() == grpc.StatusCode.FAILED_PRECONDITION else 400
            return JSONResponse({"error": "cosignature_refused", "error_description": error.details() or ""},
                                status_code=status, headers=_HEADERS)
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and rpc_error_details(error)[2] == RATE_EXCEEDED:
            # this witness's share is spent (RFC 6585 s. 4): say when to come back
            wait = max(1, math.ceil(retry_delay(error) or 60))
            return JSONResponse({"error": "too_many_cosignatures", "error_description": error.details() or ""},
                                status_code=429, headers={**_HEADERS, "Retry-After": str(wait)})
        return _unavailable()
    return JSONResponse({"tree_size": reply.tree_size, "cosignatures": reply.cosignatures}, headers=_HEADERS)


routes = [Route("/ledger/keys", ledger_keys, methods=["GET"]),
          Route("/ledger/tree-head", ledger_tree_head, methods=["GET"]),
          Route("/ledger/consistency", ledger_consistency, methods=["GET"]),
          Route("/ledger/cosignatures", ledger_cosignatures, methods=["POST"])]
