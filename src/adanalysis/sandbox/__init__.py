"""A Graph API sandbox with bundled sample video ads, for demos and tests."""

from adanalysis.sandbox.graph import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_TOKEN,
    SandboxConfig,
    create_graph_sandbox,
)
from adanalysis.sandbox.samples import SampleVideo, load_samples

__all__ = [
    "SANDBOX_ACCOUNT_ID",
    "SANDBOX_TOKEN",
    "SampleVideo",
    "SandboxConfig",
    "create_graph_sandbox",
    "load_samples",
]
