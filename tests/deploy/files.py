"""Paths of the deployment files and small readers shared by the tests in this folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ads-actions.json"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
EXAMPLE_CONFIG = REPO / "examples" / "actions.yaml"
WORKER_CONFIG_PATH = "/etc/ads-actions/actions.yaml"
WORKER_COMMAND = ["ads-actions", "worker", "-c", WORKER_CONFIG_PATH]


def yaml_documents(path: Path) -> list:
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


def yaml_file(path: Path) -> dict:
    (document,) = yaml_documents(path)
    return document


def compose_services() -> dict:
    return yaml_file(COMPOSE_FILE)["services"]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def provisioned_datasources() -> list[dict]:
    return [source for path in sorted((GRAFANA_PROVISIONING / "datasources").glob("*.yml"))
            for source in yaml_file(path)["datasources"]]


def rule_expressions() -> dict[str, str]:
    """Alert (or record) name to PromQL expression, from every group of rules.yml."""
    return {rule.get("alert") or rule["record"]: rule["expr"]
            for group in yaml_file(PROMETHEUS_RULES)["groups"] for rule in group["rules"]}


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The argument list of an exec-form (JSON array) ENTRYPOINT or CMD; shell form is split as sh would."""
    return json.loads(arguments) if arguments.startswith("[") else ["/bin/sh", "-c", arguments]


def volume_mounts(service: dict, base: Path) -> dict[str, Path]:
    """Container path to host path of a compose service's bind mounts (short syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = (base / source).resolve()
    return mounts
