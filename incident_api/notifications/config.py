"""The notification settings (``NOTIFY_*``, ``SMTP_URL``, ``PUBLIC_URL``), validated with the
rest of the configuration so a bad value stops the API and the worker at start.

Error messages name the variable and never repeat its value: webhook URLs carry tokens.
"""

from __future__ import annotations

from typing import Annotated, Final, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from warehouse.lifecycle import Severity

SMTP_SCHEMES: Final = ("smtp", "smtp+starttls", "smtps")
MIN_WEBHOOK_SECRET_BYTES: Final = 16


def _is_url(value: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname)


def split_list(value: object) -> object:
    """A comma-separated variable as a list (blank entries dropped)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class NotificationSettings(BaseSettings):
    """Channels are on when their variables are set; none set means events are recorded and
    marked dispatched, and nobody is told."""

    public_url: str = "http://127.0.0.1:8000"
    """Where people reach the API: the base of every incident link a notification carries."""
    notify_webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notify_webhook_secret: SecretStr | None = None
    notify_slack_webhook_url: SecretStr | None = None
    smtp_url: SecretStr | None = None
    notify_email_from: str | None = None
    notify_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notify_min_severity: Severity = Severity.MEDIUM
    notify_webhook_min_severity: Severity | None = None
    notify_slack_min_severity: Severity | None = None
    notify_email_min_severity: Severity | None = None
    notify_max_attempts: int = Field(8, ge=1, le=100)
    notify_backoff_seconds: float = Field(2.0, gt=0, le=3600)
    """The first retry's delay; each later one doubles it (with jitter), up to the cap."""
    notify_backoff_max_seconds: float = Field(600.0, gt=0)
    notify_timeout_seconds: float = Field(5.0, gt=0, le=120)
    notify_lease_seconds: float = Field(60.0, gt=0)
    """How long a claimed delivery is a worker's; a worker that dies is replaced after it."""
    notify_poll_seconds: float = Field(0.5, gt=0, le=60)
    notify_retention_days: int = Field(30, ge=1)

    @field_validator("notify_webhook_urls", "notify_email_to", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        return split_list(value)

    @field_validator(
        "notify_webhook_secret",
        "notify_slack_webhook_url",
        "smtp_url",
        "notify_email_from",
        "notify_webhook_min_severity",
        "notify_slack_min_severity",
        "notify_email_min_severity",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not _is_url(value, ("http", "https")):
            raise ValueError("must be an http(s) URL such as https://driftwatch.example.com")
        return value.rstrip("/")

    @field_validator("notify_webhook_urls")
    @classmethod
    def _webhook_urls(cls, urls: list[str]) -> list[str]:
        for n, url in enumerate(urls, 1):
            if not _is_url(url, ("http", "https")):
                raise ValueError(f"entry {n} is not an http(s) URL with a host")
        return urls

    @field_validator("notify_slack_webhook_url")
    @classmethod
    def _slack_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not _is_url(url.get_secret_value(), ("http", "https")):
            raise ValueError("is not an http(s) URL with a host")
        return url

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not _is_url(url.get_secret_value(), SMTP_SCHEMES):
            raise ValueError(
                "is not an smtp://, smtp+starttls:// or smtps:// URL with a host "
                "(smtp://user:password@host:port)"
            )
        return url

    @field_validator("notify_email_to")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        for n, address in enumerate(addresses, 1):
            if "@" not in address.strip("@"):
                raise ValueError(f"entry {n} is not an email address")
        return addresses

    @model_validator(mode="after")
    def _channels_complete(self) -> Self:
        secret = self.notify_webhook_secret
        if self.notify_webhook_urls and secret is None:
            raise ValueError("NOTIFY_WEBHOOK_SECRET is required when NOTIFY_WEBHOOK_URLS is set")
        if secret is not None and len(secret.get_secret_value()) < MIN_WEBHOOK_SECRET_BYTES:
            raise ValueError(
                f"NOTIFY_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_BYTES} characters"
            )
        email = (self.smtp_url, self.notify_email_from, self.notify_email_to)
        if any(email) and not all(email):
            raise ValueError(
                "email needs all of SMTP_URL, NOTIFY_EMAIL_FROM and NOTIFY_EMAIL_TO (or none)"
            )
        if self.notify_lease_seconds < 2 * self.notify_timeout_seconds:
            raise ValueError(
                "NOTIFY_LEASE_SECONDS must be at least twice NOTIFY_TIMEOUT_SECONDS "
                "(a delivery must end before its lease does)"
            )
        return self
