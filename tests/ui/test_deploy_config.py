"""compose.yaml, the Dockerfile and the Prometheus/Grafana provisioning, checked by structure
(Docker cannot run here): every service, healthcheck, volume, file and metric they name is real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"api", "worker", "ui", "postgres", "chroma", "redis", "prometheus", "grafana", "engine"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_declares_the_demo_stack_with_a_healthcheck_on_every_service(compose: dict) -> None:
    services = compose["services"]
    assert SERVICES <= set(services)
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
        assert "image" in service or "build" in service, name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["chroma"]["image"].startswith("chromadb/chroma")


def test_compose_wires_the_platform_services_together(compose: dict) -> None:
    services = compose["services"]
    api, worker, ui = services["api"], services["worker"], services["ui"]
    assert api["command"][:2] == ["moesaic", "serve"] and "0.0.0.0" in api["command"]
    assert worker["command"] == ["moesaic", "worker"]
    assert worker["image"] == api["image"] == ui["image"]
    for service in (api, worker):
        env = service["environment"]
        assert env["MOESAIC_CHROMA_URL"] == "http://chroma:8000"
        assert env["MOESAIC_REDIS_URL"] == "redis://redis:6379/0"  # API and workers share one job queue
        assert env["MOESAIC_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:5432/" in env["MOESAIC_DATABASE_URL"]
        assert "MOESAIC_BOOTSTRAP_API_KEY" in env and "MOESAIC_LLM_BASE_URL" in env
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["chroma"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert ui["environment"]["MOESAIC_API_URL"] == "http://api:8000"
    assert "8501" in " ".join(ui["command"]) and ui["depends_on"]["api"]["condition"] == "service_healthy"
    for name, service in services.items():  # every dependency exists and can become healthy
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency]


def test_engine_is_a_gpu_profile_reserving_nvidia_devices(compose: dict) -> None:
    engine = compose["services"]["engine"]
    assert engine["profiles"] == ["gpu"]
    command = engine["command"]
    assert command[:3] == ["moesaic", "engine", "serve"]
    assert command[command.index("--device") + 1] == "cuda"
    assert command[command.index("--model") + 1].startswith("/models/")
    (device,) = engine["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "engine:8000" in (ROOT / "compose.yaml").read_text()  # how the api reaches it (comment + docs)


def test_every_named_volume_is_declared_and_every_bind_mount_exists(compose: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(("./", "/", "${")):
                if source.startswith("./"):
                    assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                used.add(source)
    assert used == declared
    assert {"postgres-data", "chroma-data", "prometheus-data", "grafana-data"} <= declared


def test_prometheus_scrapes_the_api() -> None:
    config = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert "api:8000" in targets


def test_grafana_provisions_prometheus_and_a_dashboard_of_real_metrics() -> None:
    provisioning = ROOT / "docker" / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "moesaic.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((ROOT / "docker" / "grafana" / "dashboards" / "moesaic.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(t["datasource"]["uid"] == source["uid"] for p in dashboard["panels"] for t in p["targets"])
    used = {re.sub(r"_(bucket|total)$", "", m) for e in exprs for m in re.findall(r"moesaic_[a-z_]+", e)}
    assert len(used) >= 6
    metrics = pytest.importorskip("moesaic.metrics")
    exported = {family.name for family in metrics.Metrics().registry.collect()}
    assert used <= exported, f"the dashboard queries series the platform does not export: {used - exported}"


def test_dockerfile_installs_requirements_then_the_project_without_deps() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-r requirements.txt" in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile
    install = dockerfile.index("-r requirements.txt")
    assert dockerfile.index("pip install --no-deps", install) > install
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not {"ui", "platform", "apps", "requirements.txt", "pyproject.toml"} & ignored
