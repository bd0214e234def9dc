"""Turning request bodies and query strings into pydantic models, or clean 4xx problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from incident_api.problems import ApiProblem

M = TypeVar("M", bound=BaseModel)


class FieldError(NamedTuple):
    """One field at fault, as the problem's ``errors`` list shows it."""

    field: str
    message: str
    type: str


def invalid_fields(where: str, errors: Sequence[FieldError]) -> ApiProblem:
    """The one 422 of the API: ``invalid <where>: <fields>``, with each field's problem."""
    names = ", ".join(e.field for e in errors)
    return ApiProblem(422, f"invalid {where}: {names}", errors=[e._asdict() for e in errors])


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """pydantic errors as :class:`FieldError`; no input values are echoed back."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}{location}" if location else prefix.rstrip(".") or "body"
        errors.append(FieldError(field, error["msg"], error["type"]))
    return errors


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
        raise invalid_fields("body", [FieldError("body", "expected an object", "object_type")])
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_fields("body", field_errors(exc)) from None
    except RecursionError:
        raise ApiProblem(400, "the body is nested too deeply") from None


def parse_query(model: type[M]) -> M:
    repeated = [name for name in request.args if len(request.args.getlist(name)) > 1]
    if repeated:
        errors = [FieldError(name, "give it once", "repeated") for name in repeated]
        raise invalid_fields("query", errors)
    try:
        return model.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise invalid_fields("query", field_errors(exc)) from None
