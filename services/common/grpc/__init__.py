"""gRPC plumbing shared by the services: server bootstrap, interceptors, auth, clients.

See docs/foundation.md ("gRPC"). Import the pieces from their modules:
``services.common.grpc.server.GrpcServer``, ``services.common.grpc.auth`` (``PUBLIC``,
``current_principal``, ``TokenVerifier``, ``StaticJwks``, ``HttpJwks``),
``services.common.grpc.client`` (``make_channel``, ``ClientCredentialsTokens``,
``rpc_error_details``), ``services.common.grpc.validation.register_limits``.
"""
