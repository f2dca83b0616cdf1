"""The embedded demo: an app whose Graph client talks to a sandbox the same server mounts."""

from __future__ import annotations

from fastapi import FastAPI

from adanalysis.config import Settings
from adanalysis.sandbox.graph import SandboxConfig, create_graph_sandbox

SANDBOX_PATH = "/sandbox/graph"
DEFAULT_GRAPH_URL = Settings.model_fields["graph_api_url"].default


def sandbox_settings(settings: Settings) -> Settings:
    """settings with the Graph client pointed at the mounted sandbox (unless set explicitly)."""
    if settings.graph_api_url != DEFAULT_GRAPH_URL:
        return settings
    return settings.model_copy(update={"graph_api_url": f"{settings.public_url}{SANDBOX_PATH}"})


def mount_sandbox(app: FastAPI, settings: Settings) -> None:
    """Serve the Graph API sandbox (and its sample videos) under /sandbox/graph."""
    config = SandboxConfig(
        latency_seconds=settings.sandbox_latency_seconds,
        download_latency_seconds=settings.sandbox_download_latency_seconds,
    )
    app.mount(SANDBOX_PATH, create_graph_sandbox(config))
