"""The operations an OpenAPI document lists, for tests that must cover every endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    """One method on one path, with what it takes."""

    method: str
    path: str
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def authenticated(self) -> bool:
        return bool(self.spec.get("security"))

    def parameters(self, where: str) -> list[str]:
        """Names of the parameters in path or query."""
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def body_type(self) -> str | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        return next(iter(content), None)

    def request(self, **path_values: str) -> dict[str, Any]:
        """Arguments for a client's request(): method, URL, and an empty body where one goes."""
        kwargs: dict[str, Any] = {
            "method": self.method.upper(),
            "url": self.path.format(**path_values),
        }
        if self.body_type == "application/json":
            kwargs["json"] = {}
        elif self.body_type is not None:
            kwargs["data"] = {}
        return kwargs


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation of the document."""
    return [
        Operation(method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
