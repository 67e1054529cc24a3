"""The Containerfile's rules that hadolint does not check (deploy/check.sh runs both)."""
from __future__ import annotations

import json
import re

from conftest import ROOT

CONTAINERFILE = ROOT / "Containerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|python3?-dev|libpq-dev|git|curl|wget)\b")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def args() -> dict[str, str]:
    found = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            found[name] = value
    return found


def base_image(stage: list[tuple[str, str]]) -> str:
    image = stage[0][1].split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: args()[m.group(1)], image)


def test_multi_stage_on_slim_python_311():
    all_stages = stages()
    assert len(all_stages) >= 2
    assert len({base_image(stage) for stage in all_stages}) == 1, "stages must share the base image"
    for stage in all_stages:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base_image(stage)), base_image(stage)


def test_build_stage_installs_the_project_into_a_venv_with_generated_code():
    build = stages()[0]
    copies = " ".join(rest for keyword, rest in build if keyword == "COPY")
    assert "gen/" in copies and "services/" in copies and "pyproject.toml" in copies
    runs = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "python -m venv /opt/mtlid" in runs and "pip install" in runs and runs.rstrip().find(" .") > 0
    # The build fails if package data (templates, Alembic scripts) did not get installed.
    assert "src.rglob('*')" in runs and "mtlid --help" in runs


def test_final_stage_has_no_build_tools_and_copies_only_the_venv():
    final = stages()[-1]
    for keyword, rest in final:
        if keyword == "RUN":
            assert not BUILD_TOOLS.search(rest), rest
            assert "pip install" not in rest and "apt-get install" not in rest, rest
    copies = [rest for keyword, rest in final if keyword in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/mtlid /opt/mtlid"]


def test_final_stage_runs_as_a_numeric_non_root_user():
    users = [rest for keyword, rest in stages()[-1] if keyword == "USER"]
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 10000, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Kubernetes' runAsUser matches the image's user.
    deployment = (ROOT / "deploy" / "k8s" / "base" / "identity.yaml").read_text()
    assert f"runAsUser: {uid}" in deployment


def test_entrypoint_and_default_command():
    final = dict((keyword, rest) for keyword, rest in stages()[-1] if keyword in ("ENTRYPOINT", "CMD"))
    assert json.loads(final["ENTRYPOINT"]) == ["mtlid"]
    assert json.loads(final["CMD"]) == ["serve", "identity"]


def test_writes_only_under_tmp():
    env = " ".join(rest for keyword, rest in stages()[-1] if keyword == "ENV")
    assert "MTLID_VAR_DIR=/tmp/" in env and "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env
    assert "VOLUME" not in [keyword for keyword, _ in stages()[-1]]


def test_build_context_excludes_local_state_and_secrets():
    ignore = [line.strip() for line in (ROOT / ".containerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    # Deny everything first, then allow back only what the build stage copies.
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "services", "gen"}
    assert "**/.env" in ignore and "**/*.db" in ignore
