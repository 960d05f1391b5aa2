"""The Dockerfile, the compose stack and the Kubernetes manifests: they parse, and the values that
must agree across files (paths, ports, names, selectors) do."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from streams.config import MetricsSettings, Settings, parse_settings

from .files import (COMPOSE_FILE, DEPLOY, DOCKERFILE, EXAMPLE_CONFIG, GRAFANA_PROVISIONING, KUBERNETES, REPO,
                    WORKER_CONFIG_PATH, WORKER_COMMAND, compose_services, dockerfile_instructions,
                    exec_form, volume_mounts, yaml_documents, yaml_file)

YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
METRICS_PORT = MetricsSettings().port
EXPECTED_FILES = [
    "Dockerfile", "Dockerfile.dockerignore", "README.md", "compose/docker-compose.yml",
    "kubernetes/kustomization.yaml", "kubernetes/configmap.yaml", "kubernetes/deployment.yaml",
    "kubernetes/service.yaml", "kubernetes/poddisruptionbudget.yaml",
    "prometheus/prometheus.yml", "prometheus/rules.yml", "grafana/dashboards/ads-actions.json",
    "grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/ads-actions.yml",
]


def test_deploy_has_every_expected_file() -> None:
    missing = [name for name in EXPECTED_FILES if not (DEPLOY / name).is_file()]
    assert not missing


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_file_parses_to_mappings(path: Path) -> None:
    documents = yaml_documents(path)
    assert documents and all(isinstance(document, dict) for document in documents)


# --- Dockerfile ------------------------------------------------------------------------------

def test_dockerfile_runs_the_worker_as_non_root_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", str(METRICS_PORT)) in instructions
    entrypoint = [exec_form(a) for k, a in instructions if k == "ENTRYPOINT"][-1]
    command = [exec_form(a) for k, a in instructions if k == "CMD"][-1]
    assert entrypoint + command == WORKER_COMMAND


def test_dockerfile_copies_every_installed_package_and_the_context_keeps_them() -> None:
    copied = {[word for word in arguments.split() if not word.startswith("--")][0]  # --chmod=... aside
              for keyword, arguments in dockerfile_instructions() if keyword == "COPY"}
    assert all((REPO / source).exists() for source in copied)
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dirs = tool.get("package-dir", {})
    needed = {package_dirs.get(package, package.replace(".", "/")).split("/")[0] for package in tool["packages"]}
    assert needed | {"pyproject.toml"} <= copied
    # The ignore file excludes everything (*) and lets named sources back in.
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore and {f"!{source}" for source in copied} <= set(ignore)


# --- compose ---------------------------------------------------------------------------------

def test_compose_has_kafka_worker_prometheus_and_grafana() -> None:
    services = compose_services()
    assert {"kafka", "worker", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_compose_bind_mounts_exist() -> None:
    for name, service in compose_services().items():
        for target, source in volume_mounts(service, COMPOSE_FILE.parent).items():
            assert source.exists(), f"{name}: {source} (mounted on {target})"


def test_compose_worker_scales_builds_the_dockerfile_and_gets_the_example_config() -> None:
    worker = compose_services()["worker"]
    # A fixed host port or container name would make a second replica fail to start.
    assert "ports" not in worker and "container_name" not in worker
    context = (COMPOSE_FILE.parent / worker["build"]["context"]).resolve()
    assert context == REPO and (context / worker["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert volume_mounts(worker, COMPOSE_FILE.parent)[WORKER_CONFIG_PATH] == EXAMPLE_CONFIG


def test_compose_worker_bootstrap_is_an_advertised_kafka_listener() -> None:
    services = compose_services()
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    addresses = {listener.split("://", 1)[1] for listener in advertised}
    assert services["worker"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] in addresses


def test_compose_prometheus_scrapes_every_worker_replica_and_loads_the_rules() -> None:
    services = compose_services()
    mounts = volume_mounts(services["prometheus"], COMPOSE_FILE.parent)
    config_path = "/etc/prometheus/prometheus.yml"
    config = yaml_file(mounts[config_path])
    for rule_file in config["rule_files"]:
        mounted = mounts[str(Path(config_path).parent / rule_file)]
        assert mounted == DEPLOY / "prometheus" / "rules.yml"
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "ads-actions"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"] and discovery["type"] == "A"
    example_port = Settings.model_validate(yaml.safe_load(EXAMPLE_CONFIG.read_text())).metrics.port
    assert discovery["port"] == example_port


def test_compose_grafana_provisioning_points_at_the_mounted_dashboards_and_prometheus() -> None:
    services = compose_services()
    mounts = volume_mounts(services["grafana"], COMPOSE_FILE.parent)
    provisioning = {target: source for target, source in mounts.items()
                    if target.startswith("/etc/grafana/provisioning/")}
    assert {Path(t).name for t in provisioning} == {"datasources", "dashboards"}
    for kind in ("datasources", "dashboards"):
        assert provisioning[f"/etc/grafana/provisioning/{kind}"] == GRAFANA_PROVISIONING / kind
    for provider_file in (GRAFANA_PROVISIONING / "dashboards").glob("*.yml"):
        for provider in yaml_file(provider_file)["providers"]:
            assert mounts[provider["options"]["path"]] == DEPLOY / "grafana" / "dashboards"
    for datasource_file in (GRAFANA_PROVISIONING / "datasources").glob("*.yml"):
        for source in yaml_file(datasource_file)["datasources"]:
            url = urlsplit(source["url"])
            assert url.hostname in services and url.port == 9090


# --- Kubernetes ------------------------------------------------------------------------------

def kubernetes_objects() -> dict[str, dict]:
    """kind to object, from the files the kustomization lists (one object of each kind)."""
    kustomization = yaml_file(KUBERNETES / "kustomization.yaml")
    objects = [document for name in kustomization["resources"] for document in yaml_documents(KUBERNETES / name)]
    by_kind = {obj["kind"]: obj for obj in objects}
    assert len(by_kind) == len(objects)
    return by_kind


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    kustomization = yaml_file(KUBERNETES / "kustomization.yaml")
    listed = kustomization["resources"]
    assert len(set(listed)) == len(listed)
    assert all((KUBERNETES / name).is_file() for name in listed)
    manifests = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == manifests


@pytest.mark.parametrize("path", sorted(set(KUBERNETES.glob("*.yaml")) - {KUBERNETES / "kustomization.yaml"}),
                         ids=lambda p: p.name)
def test_kubernetes_object_has_api_version_kind_and_name(path: Path) -> None:
    for document in yaml_documents(path):
        assert document["apiVersion"] and document["kind"] and document["metadata"]["name"]


def test_kubernetes_objects_are_the_expected_ones() -> None:
    assert set(kubernetes_objects()) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}


def test_configmap_holds_a_valid_worker_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment of this test run must not mask a problem in the file.
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ADS_ACTIONS_METRICS_PORT", raising=False)
    configmap = kubernetes_objects()["ConfigMap"]
    settings = parse_settings(configmap["data"]["actions.yaml"], "configmap.yaml: actions.yaml")
    assert settings.metrics.port == METRICS_PORT


def test_deployment_runs_the_worker_with_the_configmap_and_probes_the_metrics_port() -> None:
    objects = kubernetes_objects()
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    # The image's ENTRYPOINT is ads-actions; args replace its CMD.
    assert ["ads-actions", *container["args"]] == WORKER_COMMAND
    environment = {variable["name"]: variable for variable in container["env"]}
    assert environment["KAFKA_BOOTSTRAP_SERVERS"].get("value") or environment["KAFKA_BOOTSTRAP_SERVERS"].get("valueFrom")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["metrics"] == METRICS_PORT
    assert container["readinessProbe"]["tcpSocket"]["port"] in ("metrics", METRICS_PORT)
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    (config_mount,) = [m for m in container["volumeMounts"] if "configMap" in volumes[m["name"]]]
    assert volumes[config_mount["name"]]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert str(Path(config_mount["mountPath"]) / "actions.yaml") == WORKER_CONFIG_PATH


def test_service_and_disruption_budget_select_the_worker_pods() -> None:
    objects = kubernetes_objects()
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = objects["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in ("metrics", METRICS_PORT) and port["port"] == METRICS_PORT
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed (the Makefile does not install it)")
def test_kubectl_kustomize_builds_the_manifests() -> None:
    built = subprocess.run(["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    kinds = sorted(document["kind"] for document in yaml.safe_load_all(built.stdout))
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
