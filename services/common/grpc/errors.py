"""The one place where ``services.common.errors`` become gRPC statuses.

Rich errors follow the Google error model (AIP-193): the status message is for developers,
the machine-readable part is a ``google.rpc.Status`` carried in the
``grpc-status-details-bin`` trailer, with ``google.rpc.BadRequest`` field violations for bad
input and ``google.rpc.ErrorInfo`` (a stable UPPER_SNAKE reason and the service's domain)
for refusals. Built only on the error path: a successful call pays nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import errors

GENERIC_INTERNAL_MESSAGE = "internal error; quote the x-request-id to the operators"

# Most specific first: the mapping walks the exception's MRO.
_CODES: dict[type[errors.ServiceError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    # A bare ServiceError is still something the caller provoked, never a bug of ours.
    errors.ServiceError: grpc.StatusCode.FAILED_PRECONDITION,
}


def error_domain(service: str) -> str:
    """The ``ErrorInfo.domain`` of a service (AIP-193: a globally unique service name)."""
    return f"{service}.mtlid.montreal.ca"


def code_for(error: errors.ServiceError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        code = _CODES.get(cls)  # type: ignore[arg-type]
        if code is not None:
            return code
    return grpc.StatusCode.FAILED_PRECONDITION


def bad_request(violations: Iterable[tuple[str, str]]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
    ])


def status_proto(code: grpc.StatusCode, message: str, details: Sequence[Message] = ()) -> status_pb2.Status:
    packed = []
    for detail in details:
        any_ = any_pb2.Any()
        any_.Pack(detail)
        packed.append(any_)
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


def status_for_error(error: errors.ServiceError, domain: str) -> status_pb2.Status:
    """``error`` as a ``google.rpc.Status`` with the details the foundation promises."""
    code = code_for(error)
    details: list[Message] = []
    if isinstance(error, errors.InvalidArgument):
        details.append(bad_request(error.violations))
    reason = getattr(error, "reason", None)
    if reason:
        metadata = {"resource": error.what} if isinstance(error, errors.NotFound) else {}
        details.append(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    if isinstance(error, errors.ResourceExhausted):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(max(1, int(error.retry_after * 1000)))
        details.append(retry)
    return status_proto(code, error.message, details)


def internal_status() -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.INTERNAL, message=GENERIC_INTERNAL_MESSAGE)


async def abort_with(context: grpc.aio.ServicerContext, status: status_pb2.Status,
                     extra_trailers: tuple[tuple[str, str], ...] = ()) -> None:
    """End the call with ``status`` (raises ``grpc.aio.AbortError``, as ``context.abort`` does)."""
    grpc_status = rpc_status.to_status(status)
    await context.abort(grpc_status.code, grpc_status.details,
                        tuple(grpc_status.trailing_metadata) + extra_trailers)
