"""What can be checked of the deployment files without a container engine or a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.server.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / name).read_text(encoding="utf-8")))


def test_kustomization_lists_files_that_exist() -> None:
    kustomization = load("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource


def test_probes_and_environment_match_the_server() -> None:
    container = load("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    known = {field.validation_alias for field in Settings.model_fields.values()}
    for variable in container["env"]:
        assert variable["name"] in known, variable["name"]
    secret_keys = set(load("secret.example.yaml")["stringData"])
    assert secret_keys <= known


def test_the_image_runs_the_console_script_as_a_non_root_user() -> None:
    containerfile = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")
    assert 'CMD ["rutradar", "serve"]' in containerfile and "USER 10001" in containerfile
    migrate = load("migrate-job.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert migrate["args"] == ["rutradar", "db", "upgrade"]


def test_the_teams_playground_is_manual_loopback_and_pinned() -> None:
    """`make teams-playground` (Microsoft 365 Agents Playground) is a look by hand: `make test`
    never depends on it, the bot it starts listens on loopback only with RUTRADAR_DEV, on a
    throwaway database, and the Playground's version is pinned, its ports below 32768."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "playground" not in test_recipe
    assert "teams-playground: $(STAMP)\n\tsh deploy/teams/playground.sh" in makefile
    script = (ROOT / "deploy" / "teams" / "playground.sh").read_text(encoding="utf-8")
    assert "RUTRADAR_DEV=1 RUTRADAR_HOST=127.0.0.1" in script
    assert "@microsoft/m365agentsplayground@$VERSION" in script and "VERSION=0.2.28" in script
    assert "mktemp -d" in script and 'rm -rf "$WORK"' in script
    assert "--disable-telemetry" in script
    for default in ("${RUTRADAR_PORT:-3978}", "${PLAYGROUND_PORT:-3979}"):
        assert default in script
