"""Bodies of sign-in, refresh, logout, sessions and an admin's account changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from incident_api.bodies import Strict
from warehouse.users import Role


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(Strict):
    password: str = Field(min_length=1, max_length=1024, description="8 to 128 characters")


class RoleChange(Strict):
    role: Role


class LogoutRequest(Strict):
    refresh_token: str | None = Field(
        None, max_length=4096, description="also revoke this refresh token"
    )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 — the scheme's name, not a secret
    expires_in: int = Field(description="seconds the access token stays valid")


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # from warehouse.sessions.SessionInfo

    sid: str
    username: str
    created_at: datetime
    refreshed_at: datetime
    expires_at: datetime
    client: str
    user_agent: str
    active: bool
    revoked_at: datetime | None
    revoked_reason: str | None


class SessionList(BaseModel):
    items: list[SessionOut]
