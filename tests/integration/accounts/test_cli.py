"""``mtlid service create|list|seed`` as an operator runs it: a real process, a real database
(SQLite or PostgreSQL), JSON on stdout, JSON errors on stderr."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database


async def mtlid(env: dict, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_service_create_list_and_seed(tmp_path):
    async with temporary_database("accounts", tmp_path) as url:
        await migrate_async("accounts", url)
        env = {"MTLID_VAR_DIR": str(tmp_path), "MTLID_ACCOUNTS_DATABASE_URL": url}
        code, out, _ = await mtlid(env, "service", "create", "--id", "verdun-library", "--kind", "borough",
                                   "--borough", "Verdun", "--name-fr", "Bibliothèques de Verdun",
                                   "--name-en", "Verdun libraries", "--owner", "Arrondissement de Verdun",
                                   "--client-id", "verdun-library", "--attribute", "given_name",
                                   "--attribute", "email", "--purpose", "service-provision")
        assert code == 0, out
        created = json.loads(out)
        assert (created["service_id"], created["borough"], created["attributes"]) == (
            "verdun-library", "Verdun", ["given_name", "email"])

        code, out, err = await mtlid(env, "service", "create", "--id", "Not Kebab", "--kind", "borough",
                                     "--name-fr", "x", "--name-en", "y", "--owner", "o", "--client-id", "c")
        assert code == 1 and out == ""
        assert {v["field"] for v in json.loads(err)["field_violations"]} == {"service_id", "borough"}

        code, out, _ = await mtlid(env, "service", "seed")
        assert code == 0 and len(json.loads(out)["added"]) == 25  # 5 city-wide, 19 boroughs, 1 partner
        code, out, _ = await mtlid(env, "service", "list", "--kind", "borough")
        boroughs = json.loads(out)
        assert code == 0 and len(boroughs) == 20  # 19 boroughs' services + Verdun's library
        assert len({s["borough"] for s in boroughs}) == 19
