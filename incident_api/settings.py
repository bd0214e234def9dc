"""Configuration from environment variables, validated when the app starts.

Production (``ENVIRONMENT=production``) refuses to start on weak configuration: a missing,
short (< 32 bytes) or well-known ``JWT_SECRET_KEY``, and an ``ALERTMANAGER_WEBHOOK_TOKEN``
shorter than 32 bytes.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from incident_api.notifications.config import NotificationSettings, split_list
from warehouse.home import default_database_url, home

MIN_SECRET_BYTES: Final = 32
WEAK_SECRETS: Final = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "jwt-secret",
        "super-secret",
        "dev",
        "development",
        "please-change-me",
        "your-secret-key",
        "super-secret-key",
        "test",
    }
)
DEV_KEY_FILE: Final = "dev-jwt-secret"
"""The development signing key's file in DRIFTWATCH_HOME."""


def well_known(secret: str) -> bool:
    """A listed value, one repeated (``changeme`` x 4 is 32 bytes, and no secret), or one of
    fewer than 8 distinct characters: checked before the length, so a listed value is named as
    such whatever its length."""
    words = "|".join(re.escape(word) for word in sorted(WEAK_SECRETS, key=len, reverse=True))
    repeated = re.fullmatch(rf"(?:(?:{words})[-_. ]?)+", secret.lower())
    return repeated is not None or len(set(secret)) < 8


class ConfigError(RuntimeError):
    """The configuration is unusable; the message names the variable."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class FeatureSeries(StrEnum):
    ALL = "all"
    NOT_OK = "not_ok"


class Settings(NotificationSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = Field(default_factory=default_database_url)
    redis_url: str | None = None
    jwt_secret_key: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alertmanager_webhook_token: str | None = None
    max_content_length: int = Field(64 * 1024, ge=1024)
    login_rate_limit: str = "10 per minute"
    """Sign-in attempts per client address."""
    session_max_days: int = Field(30, ge=1, le=365)
    """A session ends this many days after its sign-in, however often it was refreshed."""
    refresh_rate_limit: str = "30 per minute"
    """Refresh-token trades per client address: a stolen refresh token cannot be tried at
    speed, a console refreshing every few minutes never meets it."""
    login_failure_limit: str = "5 per 15 minutes"
    """Failed sign-ins per username and client address: slows a guesser, never locks the
    user out of signing in from elsewhere."""
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    """Reverse proxies in front of the API whose X-Forwarded-* headers are believed
    (Werkzeug's ProxyFix); 0 believes none, so no client can choose its own address."""
    redis_timeout_seconds: float = Field(0.5, gt=0)
    retry_after_seconds: int = Field(5, ge=1)
    metrics_feature_series: FeatureSeries = FeatureSeries.ALL
    """``all``: /metrics has every feature's series; ``not_ok``: only features not ok (the
    per-dataset status still covers every dataset), for teams that must cap cardinality."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return split_list(value)

    @field_validator("redis_url", "jwt_secret_key", "alertmanager_webhook_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        secret = self.jwt_secret_key
        if secret is None:
            raise ValueError("JWT_SECRET_KEY is required when ENVIRONMENT=production")
        if well_known(secret):
            raise ValueError("JWT_SECRET_KEY is a well-known or trivial value")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        token = self.alertmanager_webhook_token
        if token is not None and len(token.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"ALERTMANAGER_WEBHOOK_TOKEN must be at least {MIN_SECRET_BYTES} bytes"
            )
        return self

    @property
    def production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def signing_key(self) -> str:
        """The configured secret, or outside production one kept in DRIFTWATCH_HOME (0600) so
        tokens survive restarts of a development server, from any directory, without a secret
        in the repo."""
        if self.jwt_secret_key:
            return self.jwt_secret_key
        stored = home() / DEV_KEY_FILE
        if stored.exists():
            return stored.read_text().strip()
        stored.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        stored.touch(mode=0o600)
        stored.write_text(secret)
        return secret


def load_settings(overrides: dict[str, object] | None = None) -> Settings:
    """Settings from the environment (and ``overrides``), or :class:`ConfigError` naming the
    variable at fault — never a traceback full of pydantic internals."""
    try:
        return Settings(**(overrides or {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
