"""``mtlid`` identity commands, in-process, on a throwaway SQLite/PostgreSQL database."""

from __future__ import annotations

import json

import pytest

from services.cli import main
from services.identity.domain.citizen_number import CitizenNumber


@pytest.fixture
def cli(database_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MTLID_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MTLID_IDENTITY_DATABASE_URL", database_url)

    def run(*argv):
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err
    return run


def test_client_create_shows_the_secret_once_and_list_never(cli):
    code, created, _ = cli("client", "create", "--name", "Bibliothèques de Montréal",
                           "--redirect-uri", "https://biblio.montreal.ca/cb", "--scope", "openid",
                           "--scope", "profile", "--purpose", "service-provision")
    assert code == 0 and created["client_id"] == "bibliotheques-de-montreal"
    assert len(created["client_secret"]) >= 43 and created["subject_type"] == "pairwise"
    code, listing, _ = cli("client", "list")
    assert code == 0
    shown = json.dumps(listing)
    assert "bibliotheques-de-montreal" in shown and created["client_secret"] not in shown
    assert "secret_hash" not in shown and "sha256$" not in shown


def test_client_create_refuses_bad_input_naming_the_field(cli):
    code, out, err = cli("client", "create", "--name", "Bad", "--redirect-uri", "http://example.org/cb")
    assert code == 1 and out is None
    assert {v["field"] for v in json.loads(err)["violations"]} == {"redirect_uris"}


def test_client_create_refuses_resident_scopes_for_client_credentials(cli):
    code, out, err = cli("client", "create", "--name", "Système de permis", "--grant-type", "client_credentials",
                         "--audience", "urn:mtlid:accounts", "--scope", "accounts:release", "--scope", "openid",
                         "--scope", "email")
    assert code == 1 and out is None
    violations = json.loads(err)["violations"]
    assert [v["field"] for v in violations] == ["scopes"] and "openid, email" in violations[0]["description"]


def test_client_create_with_private_key_jwt_logout_uris_and_required_par(cli, tmp_path):
    from joserfc.jwk import ECKey

    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    code, created, _ = cli("client", "create", "--name", "Permis en ligne", "--redirect-uri", "https://permis.montreal.ca/cb",
                           "--auth-method", "private_key_jwt", "--jwks-file", str(keys), "--require-par",
                           "--backchannel-logout-uri", "https://permis.montreal.ca/bcl",
                           "--frontchannel-logout-uri", "https://permis.montreal.ca/fcl")
    assert code == 0 and created["client_secret"] is None
    assert created["token_endpoint_auth_method"] == "private_key_jwt" and created["require_pushed_authorization_requests"]
    assert created["backchannel_logout_uri"] == "https://permis.montreal.ca/bcl" and created["jwks"]["keys"]
    code, out, err = cli("client", "create", "--name", "Sans clés", "--redirect-uri", "https://x.montreal.ca/cb",
                         "--auth-method", "private_key_jwt")
    assert code == 1 and {v["field"] for v in json.loads(err)["violations"]} == {"jwks"}
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}))
    code, out, err = cli("client", "create", "--name", "Clé privée", "--redirect-uri", "https://y.montreal.ca/cb",
                         "--auth-method", "private_key_jwt", "--jwks-file", str(private))
    assert code == 1 and "public keys only" in err


def test_client_create_with_required_dpop(cli):
    code, created, _ = cli("client", "create", "--name", "Permis (mobile)", "--public",
                           "--redirect-uri", "https://permis.montreal.ca/app", "--require-dpop")
    assert code == 0 and created["dpop_bound_access_tokens"] is True and created["client_secret"] is None
    code, listing, _ = cli("client", "list")
    assert [c["dpop_bound_access_tokens"] for c in listing["clients"] if c["client_id"] == created["client_id"]] == [True]


def test_resident_create_prints_the_citizen_number_and_disable(cli):
    code, resident, _ = cli("resident", "create", "--email", "cli-demo@example.ca",
                            "--password", "une phrase de passe", "--verified")
    assert code == 0 and resident["email_verified"] and resident["has_password"]
    assert CitizenNumber.parse(resident["citizen_number"]).canonical == resident["resident_id"]
    code, _, err = cli("resident", "create", "--email", "CLI-demo@example.ca")
    assert code == 1 and json.loads(err)["reason"] == "EMAIL_ALREADY_REGISTERED"
    code, disabled, _ = cli("resident", "disable", "--citizen-number", resident["citizen_number"])
    assert code == 0 and disabled == {"resident_id": resident["resident_id"], "disabled": True}


def test_keys_rotate_waits_for_the_next_key_to_be_published(cli):
    code, _, err = cli("keys", "rotate")
    assert code == 1 and json.loads(err)["reason"] == "NEXT_KEY_TOO_RECENT"
    code, rotated, _ = cli("keys", "rotate", "--force")
    assert code == 0 and {r["alg"] for r in rotated["rotated"]} == {"ES256", "RS256"}
    code, listing, _ = cli("keys", "list")
    states = {(k["alg"], k["state"]) for k in listing["keys"]}
    assert {("ES256", "current"), ("ES256", "next"), ("ES256", "retired")} <= states


def test_resident_purge_closed_runs_the_purge_now_and_shows_counts_only(cli, database_url):
    """Issue 21: ``mtlid resident purge-closed`` purges the accounts closed longer than the
    retention period, now; it prints how many, never who."""
    import asyncio
    import datetime as dt

    from services.common.db import create_engine, session_factory
    from services.identity.adapters.uow import IdentityUnitOfWork

    code, resident, _ = cli("resident", "create", "--email", "ferme.cli@example.ca", "--password",
                            "une phrase de passe assez longue", "--verified")
    assert code == 0

    async def closed_three_years_ago() -> None:
        engine = create_engine(database_url)
        try:
            async with IdentityUnitOfWork(session_factory(engine)) as uow:
                row = await uow.residents.get(resident["resident_id"])
                row.close(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3 * 365))
                await uow.residents.save(row)
                await uow.commit()
        finally:
            await engine.dispose()

    asyncio.run(closed_three_years_ago())
    code, kept, _ = cli("resident", "purge-closed", "--retention-days", "1200")
    assert code == 0 and kept == {"closed_accounts_purged": 0, "rows_deleted": 0, "retention_days": 1200}
    code, purged, _ = cli("resident", "purge-closed")
    assert code == 0 and purged["closed_accounts_purged"] == 1 and purged["retention_days"] == 730
    assert resident["resident_id"] not in json.dumps(purged) and "ferme.cli" not in json.dumps(purged)
    code, again, _ = cli("resident", "purge-closed")
    assert code == 0 and again["closed_accounts_purged"] == 0
    with pytest.raises(SystemExit):
        cli("resident", "purge-closed", "--retention-days", "0")


def test_client_require_private_key_jwt_switches_a_confidential_client(cli, tmp_path):
    from joserfc.jwk import ECKey

    code, created, _ = cli("client", "create", "--name", "Système de déneigement", "--grant-type", "client_credentials",
                           "--audience", "urn:mtlid:identity", "--scope", "identity:validate")
    assert code == 0 and created["client_secret"] and created["token_endpoint_auth_method"] == "client_secret_basic"
    code, out, err = cli("client", "require-private-key-jwt", "--client-id", created["client_id"])
    assert code == 1 and out is None and {v["field"] for v in json.loads(err)["violations"]} == {"jwks"}
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    code, changed, _ = cli("client", "require-private-key-jwt", "--client-id", created["client_id"],
                           "--jwks-file", str(keys))
    assert code == 0 and changed["token_endpoint_auth_method"] == "private_key_jwt" and changed["jwks"]["keys"]
    code, listing, _ = cli("client", "list")
    [listed] = [c for c in listing["clients"] if c["client_id"] == created["client_id"]]
    assert listed["token_endpoint_auth_method"] == "private_key_jwt"
    code, out, err = cli("client", "require-private-key-jwt", "--client-id", "nobody", "--jwks-file", str(keys))
    assert code == 1 and json.loads(err)["error"] == "NotFound"
    code, public, _ = cli("client", "create", "--name", "Appli mobile", "--public",
                          "--redirect-uri", "https://permis.montreal.ca/app")
    code, out, err = cli("client", "require-private-key-jwt", "--client-id", public["client_id"],
                         "--jwks-file", str(keys))
    assert code == 1 and {v["field"] for v in json.loads(err)["violations"]} == {"token_endpoint_auth_method"}


def test_client_update_changes_the_settings_given_and_nothing_else(cli):
    code, created, _ = cli("client", "create", "--name", "Permis Anjou", "--redirect-uri", "https://permis.anjou.ca/cb",
                           "--scope", "openid", "--scope", "email", "--purpose", "service-provision")
    assert code == 0
    client_id = created["client_id"]
    code, changed, _ = cli("client", "update", "--client-id", client_id, "--redirect-uri", "https://permis.anjou.ca/a",
                           "--redirect-uri", "https://permis.anjou.ca/b", "--require-par",
                           "--backchannel-logout-uri", "https://permis.anjou.ca/bcl")
    assert code == 0
    assert changed["redirect_uris"] == ["https://permis.anjou.ca/a", "https://permis.anjou.ca/b"]
    assert changed["require_pushed_authorization_requests"] is True
    assert changed["scopes"] == ["openid", "email"] and changed["name"] == "Permis Anjou"   # kept
    code, disabled, _ = cli("client", "update", "--client-id", client_id, "--disable", "--no-require-par")
    assert code == 0 and disabled["disabled"] is True and disabled["require_pushed_authorization_requests"] is False
    code, listing, _ = cli("client", "list")
    [listed] = [c for c in listing["clients"] if c["client_id"] == client_id]
    assert listed == disabled
    # refused as at registration, naming the field; nothing written
    code, out, err = cli("client", "update", "--client-id", client_id, "--redirect-uri", "not a uri")
    assert code == 1 and out is None and {v["field"] for v in json.loads(err)["violations"]} == {"redirect_uris"}
    code, out, err = cli("client", "update", "--client-id", client_id)
    assert code == 1 and {v["field"] for v in json.loads(err)["violations"]} == {"update_mask"}
    code, out, err = cli("client", "update", "--client-id", "nobody", "--name", "x")
    assert code == 1 and json.loads(err)["error"] == "NotFound"
    code, listing, _ = cli("client", "list")
    assert [c for c in listing["clients"] if c["client_id"] == client_id] == [disabled]
