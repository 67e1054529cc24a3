"""A real nats-server with JetStream for tests, on a free port, in a temporary directory."""

from __future__ import annotations

import contextlib
import pathlib
import tempfile

from services.common.nats import EmbeddedNats


@contextlib.contextmanager
def nats_server(directory: pathlib.Path | None = None):
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = EmbeddedNats(directory / "nats").start()
        stack.callback(server.stop)
        yield server


class NatsCluster:
    """Three (or ``size``) nats-server processes forming one JetStream cluster on loopback,
    each with its own ports and store: what deploy/ runs, on one machine."""

    def __init__(self, directory: pathlib.Path, size: int = 3) -> None:
        from services.common.nats import free_port

        chosen: list[int] = []
        while len(chosen) < 2 * size:  # free_port may hand out the same free port twice
            port = free_port()
            if port not in chosen:
                chosen.append(port)
        ports = list(zip(chosen[::2], chosen[1::2]))
        routes = [f"nats://127.0.0.1:{cluster}" for _, cluster in ports]
        self.nodes = [EmbeddedNats(directory / f"n{i}", port, server_name=f"n{i}", cluster_port=cluster,
                                   routes=[r for j, r in enumerate(routes) if j != i])
                      for i, (port, cluster) in enumerate(ports)]

    @property
    def url(self) -> str:
        """Every node, comma-separated (``MTLID_NATS_URL`` accepts such a list)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> EmbeddedNats:
        return next(n for n in self.nodes if n.server_name == server_name)

    def start(self) -> "NatsCluster":
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextlib.contextmanager
def nats_cluster(directory: pathlib.Path, size: int = 3):
    cluster = NatsCluster(directory, size)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
