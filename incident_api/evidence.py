"""An incident's ``evidence`` as the API accepts it: the documented fields checked (what the
console draws and notifications link to), every other key kept as given."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    model_validator,
)

from incident_api.bodies import NoNul, has_nul
from incident_api.safe import safe_url

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A JSON number: a string, a bool, NaN or infinity is refused, not read as one."""


def _http_url(value: str) -> str:
    if safe_url(value) is None:
        raise ValueError("expected an absolute http(s) URL without spaces, quotes, <, > or |")
    return value


HttpUrlText = Annotated[str, Field(max_length=2000), AfterValidator(_http_url)]


class Bins(NoNul):
    """Reference vs current share per bin, as the drift engine reports them."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=1000)
    reference: list[Annotated[Number, Field(ge=0)]]
    current: list[Annotated[Number, Field(ge=0)]]

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        if not len(self.labels) == len(self.reference) == len(self.current):
            raise ValueError("labels, reference and current need one entry per bin each")
        return self


class Level(NoNul):
    model_config = ConfigDict(extra="forbid")

    warn: Number
    critical: Number


class Segment(NoNul):
    """One segment hint (how much of the feature's drift one segment explains)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(max_length=200)
    value: str = Field(max_length=200)
    share_reference: Annotated[Number, Field(ge=0, le=1)]
    share_current: Annotated[Number, Field(ge=0, le=1)]
    psi_within: Number | None = None
    explained: Number
    kind: Literal["within", "mix"]
    hidden: Annotated[bool, Field(strict=True)] = False
    bins: Bins | None = None


class Evidence(NoNul):
    """What the incident page draws and notifications link to; the documented fields are
    checked, other keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    partition: str | None = Field(None, max_length=32)
    run_id: str | None = Field(None, max_length=200)
    run_url: HttpUrlText | None = None
    psi: Number | None = None
    drift_ratio: Number | None = None
    mean_shift_std: Number | None = None
    js_distance: Number | None = None
    missing_share_delta: Number | None = None
    unseen_share: Number | None = None
    bins: Bins | None = None
    levels: dict[str, Level] | None = None
    segments: list[Segment] | None = Field(None, max_length=50)
    where: str | None = Field(None, max_length=500, description="the top segment hint, one line")

    @model_validator(mode="after")
    def _kept_keys_hold_no_nul(self) -> Self:
        # the field validators see the documented fields only; PostgreSQL's jsonb takes no
        # NUL in a kept key or value either (a 500 the fuzzer found)
        if self.model_extra and has_nul(self.model_extra):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return self
