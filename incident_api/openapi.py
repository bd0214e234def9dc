"""OpenAPI 3.1 built from the same pydantic models that validate requests, so the document
cannot drift from the code: routes declare their models once, with :func:`documented`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from incident_api.schemas import Problem

F = TypeVar("F", bound=Callable[..., Any])
REF: Final = "#/components/schemas/{model}"
REQUIRED_ROLE: Final = "__required_role__"
"""The attribute a role guard sets on the view it wraps: the one declaration of its role."""
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")


@dataclass
class Operation:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    auth: str | None = "bearer"
    problems: frozenset[int] = frozenset()
    body_required: bool = True
    media_type: str = "application/json"


def documented(
    summary: str,
    *,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    auth: str | None = "bearer",
    problems: set[int] | None = None,
    body_required: bool = True,
    media_type: str = "application/json",
) -> Callable[[F], F]:
    """Describe a view for /openapi.json; ``problems`` adds error statuses beyond those its
    body, query, auth and role imply. The role is not declared here: the spec reads it from
    the view's guard (:data:`REQUIRED_ROLE`)."""

    def mark(view: F) -> F:
        view.__openapi__ = Operation(  # type: ignore[attr-defined]
            summary,
            tag,
            body,
            query,
            dict(responses or {}),
            auth,
            frozenset(problems or ()),
            body_required,
            media_type,
        )
        return view

    return mark


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": {
            400: "malformed request",
            401: "missing or invalid credentials",
            403: "role does not allow this",
            404: "not found",
            409: "conflicts with the incident's state",
            413: "body too large",
            415: "body is not JSON",
            422: "invalid fields",
            429: "too many attempts",
            503: "a dependency is down",
        }.get(status, "error"),
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def build_spec(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    operations: list[tuple[str, str, Operation, str | None]] = []  # (rule, method, op, role)
    models: set[type[BaseModel]] = {Problem}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "__openapi__", None)
        if op is None:
            continue
        role = getattr(view, REQUIRED_ROLE, None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((str(rule.rule), method.lower(), op, role))
        models.update(m for m in (op.body, op.query, *op.responses.values()) if m is not None)

    ordered = sorted(models, key=lambda m: m.__name__)
    _, schema_doc = models_json_schema([(m, "validation") for m in ordered], ref_template=REF)
    components = schema_doc.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for rule_text, method, op, role in sorted(operations, key=lambda o: (o[0], o[1])):
        path = _PARAM.sub(lambda m: "{" + m.group("name") + "}", rule_text)
        item: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "responses": {},
        }
        params = [
            {
                "name": m.group("name"),
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if m.group("conv") == "int" else "string"},
            }
            for m in _PARAM.finditer(rule_text)
        ]
        if op.query is not None:
            for name, prop in op.query.model_json_schema(ref_template=REF)["properties"].items():
                params.append({"name": name, "in": "query", "required": False, "schema": prop})
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {
                "required": op.body_required,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
                },
            }
        for status, model in sorted(op.responses.items()):
            if model is None:
                item["responses"][str(status)] = {"description": "no content"}
            else:
                item["responses"][str(status)] = {
                    "description": "success",
                    "content": {
                        op.media_type: {"schema": {"$ref": REF.format(model=model.__name__)}}
                    },
                }
        errors = ({400, 413, 415, 422} if op.body else set()) | op.problems
        if op.query is not None:
            errors.add(422)
        if op.auth is not None:
            errors |= {401, 503}
            item["security"] = [{op.auth: []}]
        if role:
            errors.add(403)
            item["description"] = f"Requires the {role} role (or above)."
        if "{" in path:
            errors.add(404)
        for status in sorted(errors):
            item["responses"].setdefault(str(status), _problem_response(status))
        paths.setdefault(path, {})[method] = item

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "alertmanager": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the static ALERTMANAGER_WEBHOOK_TOKEN",
                },
            },
        },
    }
