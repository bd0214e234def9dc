"""Turning request bodies and query strings into pydantic models, or clean 4xx problems."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from incident_api.problems import ApiProblem

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as ``{field, message, type}``; no input values are echoed back."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        errors.append(
            {
                "field": f"{prefix}{location}" if location else prefix.rstrip(".") or "body",
                "message": error["msg"],
                "type": error["type"],
            }
        )
    return errors


def _invalid(exc: ValidationError, where: str) -> ApiProblem:
    errors = field_errors(exc)
    names = ", ".join(e["field"] for e in errors)
    return ApiProblem(422, f"invalid {where}: {names}", errors=errors)


def parse_body(model: type[M]) -> M:
    if not request.is_json:
        raise ApiProblem(415, "send the body as application/json")
    try:
        payload: Any = request.get_json()
    except BadRequest:
        raise ApiProblem(400, "the body is not valid JSON") from None
    except RecursionError:
        raise ApiProblem(400, "the body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise ApiProblem(
            422,
            "the body must be a JSON object",
            errors=[{"field": "body", "message": "expected an object", "type": "object_type"}],
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(exc, "body") from None
    except RecursionError:
        raise ApiProblem(400, "the body is nested too deeply") from None


def parse_query(model: type[M]) -> M:
    repeated = [name for name in request.args if len(request.args.getlist(name)) > 1]
    if repeated:
        raise ApiProblem(
            422,
            f"give each query parameter once: {', '.join(repeated)}",
            errors=[{"field": n, "message": "repeated", "type": "repeated"} for n in repeated],
        )
    try:
        return model.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise _invalid(exc, "query") from None
