"""The deployment files, checked by structure (Docker does not run on these machines)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def test_compose_runs_two_apis_behind_a_proxy_two_workers_beat_postgres_and_redis() -> None:
    services = _services()
    assert {"api1", "api2", "worker1", "worker2", "beat", "postgres", "redis", "proxy"} <= set(
        services
    )
    for name in ("api1", "api2"):
        assert services[name]["command"][0] == "serve"
        assert "0.0.0.0" in services[name]["command"]  # noqa: S104 - inside its container
    for name in ("worker1", "worker2"):
        assert services[name]["command"][0] == "worker"
    assert services["beat"]["command"] == ["beat"]
    assert services["migrate"]["command"] == ["migrate"]


def test_app_services_share_the_image_and_the_scale_out_settings() -> None:
    services = _services()
    for name in ("api1", "api2", "worker1", "worker2", "beat", "migrate"):
        service = services[name]
        assert service["image"] == "adanalysis:latest"
        env = service["environment"]
        assert env["ADANALYSIS_EXECUTOR"] == "celery"
        assert env["ADANALYSIS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["ADANALYSIS_DATABASE_URL"].endswith("@postgres:5432/adanalysis")
        assert env["ADANALYSIS_BROKER_URL"].startswith("redis://redis:6379/")
        # The secret comes from the operator's .env, never from the file itself.
        assert env["ADANALYSIS_SECRET_KEY"].startswith("${ADANALYSIS_SECRET_KEY")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["image"].startswith("nginx:")


def test_every_long_running_service_has_a_health_check() -> None:
    services = _services()
    for name, service in services.items():
        if name == "migrate":
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
    assert any("/readyz" in part for part in services["api1"]["healthcheck"]["test"])
    assert services["api1"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["proxy"]["depends_on"]["api1"]["condition"] == "service_healthy"


def test_proxy_balances_both_apis_and_passes_websockets() -> None:
    services = _services()
    mounts = services["proxy"]["volumes"]
    assert any(m.startswith("./deploy/nginx.conf:") for m in mounts)
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server api1:8000;" in conf and "server api2:8000;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf


def test_dockerfile_is_multi_stage_non_root_with_the_speech_model_baked_in() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "install_whisper_model.py" in text  # assembled from the PyPI model packages
    assert "COPY --from=build" in runtime
    assert re.search(r'^ENTRYPOINT \[.*"adanalysis"\]', runtime, flags=re.MULTILINE)


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data"} <= set(ignored)
