"""The floor of the gRPC stack: a server that answers every call at once, doing nothing.

Run as a child process (``python grpc_floor.py PORT``): grpc.aio with the server options every
mtlid service uses (``services.common.grpc.server.SERVER_OPTIONS``: the same pending-call
limits, keepalive, message size) on the same event loop (``services.cli.run_event_loop``:
uvloop), one generic handler that returns an empty message for any method, no interceptor,
no protobuf decoding, no database. Measured at the same offered rates with the same generator
as ValidateToken and Check, it shows what gRPC's C core, the event loop and the handoff
between them cost per call on this machine before any of mtlid's code runs: the part of
those two rows no change to mtlid's handlers can remove.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))


def main(port: int) -> None:
    import grpc
    import grpc.aio

    from services.cli import run_event_loop
    from services.common.grpc.server import MAXIMUM_CONCURRENT_RPCS, SERVER_OPTIONS

    class AnswerEverything(grpc.GenericRpcHandler):
        def service(self, handler_call_details):
            return grpc.unary_unary_rpc_method_handler(self.answer)

        @staticmethod
        async def answer(request: bytes, context) -> bytes:
            return b""

    async def serve() -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=MAXIMUM_CONCURRENT_RPCS)
        server.add_generic_rpc_handlers((AnswerEverything(),))
        if not server.add_insecure_port(f"127.0.0.1:{port}"):
            raise SystemExit(f"cannot bind 127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    run_event_loop(serve)


if __name__ == "__main__":
    main(int(sys.argv[1]))
