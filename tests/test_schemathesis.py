"""The whole API against its own OpenAPI document, signed in, on a live server.

Schemathesis generates requests for every operation the document lists (new endpoints are
covered as they appear) and checks every answer: no 5xx, status codes, headers and bodies as
documented, invalid input refused, valid input accepted. A targeted pass then puts NUL and other
control characters into every string parameter and body field the document lists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adanalysis.main import create_app
from adanalysis.sandbox.graph import create_graph_sandbox
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
from adanalysis.serving import serve_app_in_thread
from tests.conftest import make_settings

# Bounded so CI stays within a few minutes: a fixed seed, a fixed number of cases per operation.
SEED = 20261129
MAX_EXAMPLES = 40
# Business preconditions (400: no credentials saved) are valid input meeting a state; register
# also refuses common passwords and reserved email domains (.test, .local...), which JSON
# Schema's `email` format and a pattern cannot say.
# No cache: each run starts from nothing, so a result never depends on an earlier run.
CONFIG = """
[cache]
enabled = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-path = "/api/v1/auth/register"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
"""
CONTROL_SAMPLES = ["\x00", "a\x00b", "\x01\x02", "x\x1b[2Jy", "\x7f", "a\x9bb", "\r", "\n"]
# Line breaks and tabs are text inside bodies; everywhere else they are refused too.
BODY_ALLOWED = {"\r", "\n"}
PASSWORD = "correct-horse-9"


@dataclass
class LiveApi:
    """A running server on the test database, and a signed-in user with sandbox credentials."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def live_api(database_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    """The app on a real port (uvicorn, lifespan, executor) with the sandbox and a fake OpenAI."""
    with (
        serve_app_in_thread(create_openai_fake(FakeOpenAIConfig())) as openai_url,
        serve_app_in_thread(create_graph_sandbox()) as graph_url,
    ):
        settings = make_settings(
            database_url,
            tmp_path / "data",
            graph_api_url=graph_url,
            openai_api_key="sk-test-not-a-real-key",
            openai_base_url=f"{openai_url}/v1",
            heartbeat_interval_seconds=1.0,
        )
        with serve_app_in_thread(create_app(settings), lifespan="on") as url:
            with httpx.Client(base_url=url, timeout=60) as client:
                email = "fuzz@example.com"
                r = client.post(
                    "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
                )
                assert r.status_code == 201, r.text
                r = client.post(
                    "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
                )
                api = LiveApi(url, r.json()["access_token"])
                r = client.put(
                    "/api/v1/ad_analysis/credentials",
                    headers=api.headers,
                    json={"access_token": "sandbox", "account_id": "act_1234567890"},
                )
                assert r.status_code == 200, r.text
            yield api


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_api: LiveApi, tmp_path: Path
) -> None:
    """Every check Schemathesis has, over every operation, with a fixed seed."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{live_api.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {live_api.token}",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "120",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(
        f"schemathesis: {cases['generated']} cases over {summary['operations']['tested']} operations"
    )
    assert summary["failures"] == [] and summary["errors"] == [], output[-20000:]
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    assert summary["operations"]["tested"] == summary["operations"]["total"]
    assert cases["generated"] >= 300, "the run was cut short"


def _string_fields(
    schema: Any, components: dict[str, Any], loc: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """Locations of the string fields of a request body schema (nested objects, arrays)."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return _string_fields(components[schema["$ref"].rsplit("/", 1)[-1]], components, loc)
    found: list[tuple[Any, ...]] = []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _string_fields(alternative, components, loc)
    if schema.get("type") == "string" and "enum" not in schema:
        found.append(loc)
    for name, prop in schema.get("properties", {}).items():
        found += _string_fields(prop, components, (*loc, name))
    if "items" in schema:
        found += _string_fields(schema["items"], components, (*loc, 0))
    return sorted(set(found), key=str)


def _place(loc: tuple[Any, ...], value: str) -> Any:
    """A JSON document holding value at loc."""
    if not loc:
        return value
    head, *rest = loc
    inner = _place(tuple(rest), value)
    return [inner] if isinstance(head, int) else {head: inner}


def _requests(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any], list[Any]]]:
    """(method, path, label, request kwargs builder input, expected loc) for every string input."""
    components = spec.get("components", {}).get("schemas", {})
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            path_values = {p["name"]: "0" * 24 for p in params if p["in"] == "path"}
            for param in params:
                if param["in"] not in {"path", "query"}:
                    continue
                kinds = json.dumps(param["schema"])
                if '"string"' not in kinds:
                    continue
                yield (
                    method,
                    path,
                    param["in"],
                    {"param": param, "path_values": path_values},
                    [
                        param["in"],
                        param["name"],
                    ],
                )
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                for loc in _string_fields(content["schema"], components, ()):
                    yield (
                        method,
                        path,
                        media,
                        {"loc": loc, "path_values": path_values},
                        [
                            "body",
                            *loc,
                        ],
                    )


def test_control_characters_in_every_string_input_are_422(live_api: LiveApi) -> None:
    """Each string path, query, form and JSON field of each operation, one at a time."""
    spec = httpx.get(f"{live_api.url}/openapi.json").json()
    cases = list(_requests(spec))
    assert len(cases) >= 15, "the OpenAPI document lists fewer string inputs than expected"
    sent = 0
    with httpx.Client(base_url=live_api.url, headers=live_api.headers, timeout=60) as client:
        for method, path, where, spec_part, expected_loc in cases:
            for value in CONTROL_SAMPLES:
                if where not in {"path", "query"} and value in BODY_ALLOWED:
                    continue
                url = path.format(**spec_part["path_values"])
                kwargs: dict[str, Any] = {}
                if where == "path":
                    name = spec_part["param"]["name"]
                    url = path.format(**{**spec_part["path_values"], name: _quote(value)})
                elif where == "query":
                    kwargs["params"] = {spec_part["param"]["name"]: value}
                elif where == "application/json":
                    kwargs["json"] = _place(spec_part["loc"], value)
                elif where == "application/x-www-form-urlencoded":
                    kwargs["data"] = {spec_part["loc"][0]: value}
                else:
                    raise AssertionError(f"no case for request bodies of type {where}")
                r = client.request(method.upper(), url, **kwargs)
                sent += 1
                label = f"{method.upper()} {path} {where} {expected_loc} {value!r}"
                assert r.status_code == 422, f"{label}: {r.status_code} {r.text}"
                detail = r.json()["detail"]
                assert isinstance(detail, list), label
                locs = [issue["loc"] for issue in detail]
                # A trailing line break can make the path match another route ('$' matches
                # before it): then the path as a whole is named.
                assert locs in ([expected_loc], [["path"]]), f"{label}: {detail}"
                assert all(set(issue) == {"type", "loc", "msg"} for issue in detail)
                if value not in {"\r", "\n"}:
                    assert value not in r.text, f"{label}: the input was echoed"
    print(f"control characters: {sent} requests over {len(cases)} string inputs")


def _quote(value: str) -> str:
    return httpx.URL("/", params={"v": value}).query.decode().removeprefix("v=")
