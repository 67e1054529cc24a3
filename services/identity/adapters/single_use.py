"""``oidc.ports.SingleUse`` on PostgreSQL: each record is one autocommit statement
(``services.common.reads.PointWrites``), not a unit of work.

The tables and their meaning are the repositories' (``oauth_repositories.SqlDpopProofStore``,
``SqlClientAssertionStore``): the primary key makes a second use fail whichever identity
process sees it; ``ON CONFLICT DO NOTHING`` turns that into "0 rows" instead of an error.
A concurrent second use waits on the first's row lock and then finds it (PostgreSQL docs,
INSERT, "ON CONFLICT"): exactly one of them is first.
"""

from __future__ import annotations

import datetime as dt

from services.common.reads import PointWrites

_DPOP_PROOF = ("INSERT INTO oauth_dpop_proofs (proof_key, expires_at) VALUES (:proof_key, :expires_at)"
               " ON CONFLICT DO NOTHING")
_CLIENT_ASSERTION = ("INSERT INTO oauth_client_assertions (client_id, jti, expires_at)"
                     " VALUES (:client_id, :jti, :expires_at) ON CONFLICT DO NOTHING")


class PointSingleUse:
    def __init__(self, writes: PointWrites) -> None:
        self._writes = writes

    async def dpop_proof(self, proof_key: str, expires_at: dt.datetime) -> bool:
        return await self._writes.changed(_DPOP_PROOF, {"proof_key": proof_key, "expires_at": expires_at}) == 1

    async def client_assertion(self, client_id: str, jti: str, expires_at: dt.datetime) -> bool:
        return await self._writes.changed(_CLIENT_ASSERTION, {"client_id": client_id, "jti": jti,
                                                              "expires_at": expires_at}) == 1
