"""Input hygiene at the edge: control characters are refused before any handler or query runs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection, Request

# C0 controls, DEL, C1 controls and lone surrogates: PostgreSQL cannot store NUL, drivers cannot
# encode surrogates, and the rest only ever serve to forge log lines or terminal output.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In request bodies, text may span lines and hold tabs.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_CHARACTER_MESSAGE = (
    "Control characters (such as NUL) are not allowed here; remove them and try again."
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Loc = tuple[str | int, ...]


def has_control_characters(value: str, *, text: bool = False) -> bool:
    """Whether value holds a refused character; text=True lets tabs and line breaks through."""
    return (_CONTROL_IN_TEXT if text else _CONTROL).search(value) is not None


async def refuse_control_characters(connection: HTTPConnection) -> None:
    """App-wide dependency: 422 when a path, query, form or JSON value holds a control character."""
    if not isinstance(connection, Request):
        return  # WebSockets check their own few inputs (an id shape and a signed token)
    errors = [
        *_url_errors(connection),
        *[_error(loc) for loc in await _body_locations(connection)],
    ]
    if errors:
        raise RequestValidationError(errors)


def _url_errors(request: Request) -> list[dict[str, Any]]:
    errors = [
        _error(("path", name))
        for name, value in request.path_params.items()
        if isinstance(value, str) and has_control_characters(value)
    ]
    if not errors and has_control_characters(request.scope.get("path", "")):
        # Not in a parameter: the route's regex let it through ('$' matches before a final
        # newline), so the request reached a route it did not name.
        errors.append(_error(("path",)))
    for name, value in request.query_params.multi_items():
        if has_control_characters(name):
            errors.append(_error(("query",)))  # never echo the offending name
        elif has_control_characters(value):
            errors.append(_error(("query", name)))
    return errors


async def _body_locations(request: Request) -> list[Loc]:
    """Where the body holds control characters, for routes that read one (parsed by then)."""
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None:
        return []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        form = await request.form()  # parsed and cached by FastAPI before dependencies run
        return [
            ("body",) if has_control_characters(name) else ("body", name)
            for name, value in form.multi_items()
            if has_control_characters(name)
            or (isinstance(value, str) and has_control_characters(value, text=True))
        ]
    if content_type == "application/json" or content_type.endswith("+json"):
        if not await request.body():
            return []  # an optional body left out: FastAPI parsed nothing, nor do we
        try:
            document = await request.json()
        except (ValueError, RecursionError):
            return []  # not parsed as JSON by FastAPI either: the model refuses it
        return _json_locations(document)
    return []


def _json_locations(document: Any) -> list[Loc]:
    """Locations of refused strings in a parsed JSON document; iterative, so depth is no risk."""
    found: list[Loc] = []
    stack: list[tuple[Loc, Any]] = [(("body",), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            if has_control_characters(value, text=True):
                found.append(loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                if has_control_characters(key):
                    found.append(loc)  # the key itself is never echoed
                else:
                    stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in enumerate(value))
    return sorted(set(found), key=str)


def _error(loc: Loc) -> dict[str, Any]:
    return {"type": "control_character", "loc": loc, "msg": CONTROL_CHARACTER_MESSAGE}


# The same rule, written into the OpenAPI document so clients and fuzzers know it.
URL_CHARACTER = "[^\\u0000-\\u001f\\u007f-\\u009f]"
BODY_CHARACTER = "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]"
URL_STRING_PATTERN = f"^{URL_CHARACTER}*$"
BODY_STRING_PATTERN = f"^{BODY_CHARACTER}*$"


def document_control_character_rule(openapi: dict[str, Any]) -> None:
    """Give every request string without a pattern of its own the pattern that excludes them.

    Component schemas that responses use too are left alone: a response may well hold a tab.
    """
    components: dict[str, Any] = openapi.get("components", {}).get("schemas", {})
    in_responses = _referenced(
        [
            response
            for operation in _operations(openapi)
            for response in operation.get("responses", {}).values()
        ],
        components,
    )
    done: set[str] = set()

    def mark(schema: Any, pattern: str) -> None:
        if isinstance(schema, list):
            for item in schema:
                mark(item, pattern)
            return
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in done and name not in in_responses and name in components:
                done.add(name)
                mark(components[name], pattern)
            return
        if schema.get("type") == "string" and not {"pattern", "enum", "const"} & set(schema):
            if schema.get("format") != "binary":
                schema["pattern"] = pattern
        for key in ("properties", "patternProperties"):
            mark(list(schema.get(key, {}).values()), pattern)
        for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            mark(schema.get(key), pattern)

    for operation in _operations(openapi):
        for parameter in operation.get("parameters", []):
            if parameter.get("in") in {"path", "query"}:
                mark(parameter.get("schema"), URL_STRING_PATTERN)
        for media in operation.get("requestBody", {}).get("content", {}).values():
            mark(media.get("schema"), BODY_STRING_PATTERN)


def _operations(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in openapi.get("paths", {}).values()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    ]


def _referenced(roots: list[Any], components: dict[str, Any]) -> set[str]:
    """Names of the component schemas reachable from roots."""
    seen: set[str] = set()
    stack: list[Any] = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen and name in components:
                    seen.add(name)
                    stack.append(components[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return seen
