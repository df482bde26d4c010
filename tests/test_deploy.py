"""What can be checked of the deployment files without a container engine or a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings

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
