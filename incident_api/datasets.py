"""The drift results API: ``GET /datasets`` (each dataset's present) and
``GET /datasets/{dataset}/results`` (its history, filtered, in keyset pages) — what the console
draws, for REST clients and notebooks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from drift.thresholds import MEASURES, OPT_IN_FIELDS, Status
from incident_api.guards import require_role
from incident_api.openapi import documented
from incident_api.problems import ApiProblem
from incident_api.responses import json_body
from incident_api.result_schemas import (
    DatasetOut,
    DatasetPage,
    DatasetQuery,
    ResultOut,
    ResultPage,
    ResultQuery,
)
from incident_api.services import services
from incident_api.validation import FieldError, invalid_fields, parse_query
from warehouse.incidents import InvalidCursor
from warehouse.result_pages import (
    ResultFilter,
    decode_name_cursor,
    encode_name_cursor,
    result_page,
)
from warehouse.result_tables import DriftResult
from warehouse.users import Role

bp = Blueprint("datasets", __name__, url_prefix="/datasets")
SHOWN_MEASURES = (*MEASURES, *OPT_IN_FIELDS)


def _bad_cursor() -> Exception:
    return invalid_fields("query", [FieldError("cursor", "not a cursor from this API", "cursor")])


@bp.get("")
@require_role(Role.VIEWER)
@documented(
    "List datasets with drift results, by name, each with its present (worst status, "
    "features per status, newest partition)",
    tag="drift",
    query=DatasetQuery,
    responses={200: DatasetPage},
)
def list_datasets() -> Response:
    query = parse_query(DatasetQuery)
    try:
        after = decode_name_cursor(query.cursor) if query.cursor else ""
    except InvalidCursor:
        raise _bad_cursor() from None
    worst = Status(query.worst) if query.worst else None
    found = services().present.summaries(
        search=query.q, worst=worst, limit=query.limit + 1, after=after
    )
    items = found[: query.limit]
    more = len(found) > query.limit and items
    page = DatasetPage(
        items=[DatasetOut.model_validate(item) for item in items],
        next_cursor=encode_name_cursor(items[-1].dataset) if more else None,
    )
    return json_body(page)


def _result(row: DriftResult, reference: dict[str, Any] | None) -> ResultOut:
    measures = {name: getattr(row, name) for name in SHOWN_MEASURES}
    computed = ("measures", "reference")
    fields = {name: getattr(row, name) for name in ResultOut.model_fields if name not in computed}
    # the opt-in measures appear where the dataset grades with them
    fields["measures"] = {k: v for k, v in measures.items() if v is not None or k in MEASURES}
    fields["reference"] = reference
    return ResultOut.model_validate(fields)


@bp.get("/<dataset>/results")
@require_role(Role.VIEWER)
@documented(
    "One dataset's drift results, newest partition first, filtered by feature, partition "
    "range and status, in cursor pages",
    tag="drift",
    query=ResultQuery,
    responses={200: ResultPage},
    problems={404},
)
def list_results(dataset: str) -> Response:
    query = parse_query(ResultQuery)
    if services().present.summary(dataset) is None:
        raise ApiProblem(404, f"dataset {dataset!r} has no drift results")
    flt = ResultFilter(
        dataset=dataset,
        feature=query.feature,
        partition_from=query.from_,
        partition_to=query.to,
        status=query.status,
    )
    try:
        page = result_page(services().db, flt, limit=query.limit, cursor=query.cursor)
    except InvalidCursor:
        raise _bad_cursor() from None
    return json_body(
        ResultPage(
            items=[_result(row, page.reference(row)) for row in page.items],
            next_cursor=page.next_cursor,
        )
    )
