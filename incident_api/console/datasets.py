"""The console's pages about drift: the datasets (searched, filtered by worst status, worst
first, paged), one dataset's grid (its features paged, the newest partitions) and one result.
Every page reads the stored present or a bounded slice of history, so none grows with the
history stored."""

from __future__ import annotations

from typing import Final, TypeVar

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drift.hints import from_records, where
from drift.multivariate import MULTIVARIATE
from drift.thresholds import GRADED_FIELD, MEASURES, OPT_IN_FIELDS, Status
from incident_api.console import charts
from incident_api.console.access import console_page
from incident_api.console.pages import bp, error_page, page
from incident_api.console.views import DEFAULT_PSI, TREND_PARTITIONS
from incident_api.safe import number
from incident_api.services import services

Q = TypeVar("Q", bound=BaseModel)
DATASETS_PER_PAGE: Final = 50
FEATURES_PER_PAGE: Final = 50
GRID_PARTITIONS: Final = 14


class DatasetsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    q: str | None = Field(None, max_length=200)
    worst: Status | None = None
    page: int = Field(1, ge=1, le=100_000)


class GridQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=100_000)


def _query(model: type[Q]) -> Q:
    return model.model_validate({k: v for k, v in request.args.items() if v != ""})


def _bad_filter(exc: ValidationError) -> Response:
    field = exc.errors()[0]["loc"][0]
    return error_page(400, f"The filter {field} is not one this page knows.")


@bp.get("/datasets")
@console_page()
def datasets() -> Response:
    try:
        query = _query(DatasetsQuery)
    except ValidationError as exc:
        return _bad_filter(exc)
    found = services().present.summaries(
        search=query.q,
        worst=query.worst,
        limit=DATASETS_PER_PAGE + 1,  # one more says whether a next page exists
        offset=(query.page - 1) * DATASETS_PER_PAGE,
    )
    return page(
        "datasets.html",
        summaries=found[:DATASETS_PER_PAGE],
        more=len(found) > DATASETS_PER_PAGE,
        query=query,
        filters=query.model_dump(include={"q", "worst"}, exclude_none=True),
        statuses=[s.value for s in sorted(Status, key=lambda s: s.code, reverse=True)],
    )


@bp.get("/datasets/<dataset>")
@console_page()
def dataset(dataset: str) -> Response:
    try:
        query = _query(GridQuery)
    except ValidationError as exc:
        return _bad_filter(exc)
    summary = services().present.summary(dataset)
    if summary is None:
        return error_page(404, f"There is no dataset {dataset} with drift results.")
    features = services().present.feature_page(
        dataset, limit=FEATURES_PER_PAGE, offset=(query.page - 1) * FEATURES_PER_PAGE
    )
    days, cells = services().results.grid(dataset, GRID_PARTITIONS, features)
    return page(
        "dataset.html",
        summary=summary,
        days=days,
        cells=cells,
        # a red cell links to the incident that holds that feature now
        incidents=services().incidents.holders(dataset),
        query=query,
        more=query.page * FEATURES_PER_PAGE < summary.features,
    )


MULTIVARIATE_FIELDS: Final = ("reconstruction_error", "reference_mean", "reference_std")


def _error_of(stored: object, name: str = "reconstruction_error") -> float | None:
    """A number of a stored multivariate result (None for any other shape)."""
    return number(stored.get(name)) if isinstance(stored, dict) else None


def _where(status: str, segments: object) -> str:
    """The result's hint in one line ("" for a stored shape it cannot read)."""
    try:
        return where(Status(status), from_records(segments if isinstance(segments, list) else []))
    except (TypeError, ValueError, AttributeError):
        return ""


@bp.get("/datasets/<dataset>/<feature>/<partition>")
@console_page()
def result(dataset: str, feature: str, partition: str) -> Response:
    results = services().results
    found = results.latest(dataset, feature, partition)
    if found is None:
        return error_page(404, f"{dataset}.{feature} has no result for {partition}.")
    recent = results.recent_partitions(dataset, feature, TREND_PARTITIONS)
    levels = found.levels or {}
    if feature == MULTIVARIATE:  # the rows' reconstruction error, against its own levels
        measured = "reconstruction_error"
        values = [(r.partition, _error_of(r.multivariate), r.status) for r in recent]
        shown = [(name, _error_of(found.multivariate, name), levels.get(name) if name == measured
                  else None) for name in MULTIVARIATE_FIELDS]  # fmt: skip
        trend = charts.psi_trend(values, levels.get(measured) or {})
    else:
        measured = "PSI"
        psi_levels = levels.get("psi") or DEFAULT_PSI  # the stored levels; before 0012 defaults
        trend = charts.psi_trend([(r.partition, r.psi, r.status) for r in recent], psi_levels)
        names = [*MEASURES, *(name for name in OPT_IN_FIELDS if getattr(found, name) is not None)]
        graded = {field: measure for measure, field in GRADED_FIELD.items()}  # field → measure
        shown = [(n, getattr(found, n), levels.get(graded.get(n, ""))) for n in names]
    return page(
        "result.html",
        result=found,
        bins=charts.bin_chart(found.bins),
        segments=charts.segment_rows(found.segments),
        where=_where(found.status, found.segments),
        trend=trend,
        trend_of=measured,
        top_columns=(found.multivariate or {}).get("top_columns") or [],
        chart=charts,
        measures=shown,
        reference=results.reference(dataset, partition, found.run_id),
    )
