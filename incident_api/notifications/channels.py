"""The channels a delivery goes through, built from the settings.

A send either returns (delivered) or raises :class:`SendFailed`, which says whether trying
again can help: 5xx, 408, 429, timeouts and refused connections can; any other 4xx (or a
redirect: the URL is wrong) cannot. No error text carries a URL: webhook URLs hold tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final, Protocol
from urllib.parse import unquote, urlsplit

from incident_api.notifications import render
from incident_api.notifications.config import NotificationSettings
from warehouse.lifecycle import Severity
from warehouse.notifications import Claimed, Route

USER_AGENT: Final = "driftwatch-notifier/1"
SIGNATURE_HEADER: Final = "X-Driftwatch-Signature"
TIMESTAMP_HEADER: Final = "X-Driftwatch-Timestamp"
EVENT_HEADER: Final = "X-Driftwatch-Event"
DELIVERY_HEADER: Final = "X-Driftwatch-Delivery"
_RETRYABLE_STATUS: Final = frozenset({408, 429})


class SendFailed(Exception):
    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def min_severity(self) -> Severity: ...

    def send(self, delivery: Claimed) -> None: ...


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of
    ``"<timestamp>." + raw body``. The timestamp (Unix seconds, sent as
    ``X-Driftwatch-Timestamp``) is signed with the body, so a receiver that refuses old
    timestamps refuses a replayed request too."""
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx surfaces as an HTTPError: the configured URL is wrong


_OPENER: Final = urllib.request.build_opener(_NoRedirects)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides instead


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST ``body``; :class:`SendFailed` unless the answer is 2xx."""
    request = urllib.request.Request(  # noqa: S310 — the URL's scheme is validated as http(s)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
        retryable = status >= 500 or status in _RETRYABLE_STATUS
        raise SendFailed(
            f"HTTP {status}",
            retryable=retryable,
            retry_after=_retry_after(exc.headers.get("Retry-After")),
        ) from None
    except TimeoutError:
        raise SendFailed(f"no answer within {timeout:g} s", retryable=True) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise SendFailed(f"cannot connect: {text}", retryable=True) from None
    except (OSError, http.client.HTTPException) as exc:  # reset or garbled mid-answer
        raise SendFailed(f"connection failed: {type(exc).__name__}", retryable=True) from None


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: str
    secret: str
    public_url: str
    timeout: float
    min_severity: Severity

    def send(self, delivery: Claimed) -> None:
        body = render.webhook_body(delivery, self.public_url)
        now = int(time.time())  # each attempt is signed afresh; the delivery id stays
        headers = {
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.delivery_id,
            TIMESTAMP_HEADER: str(now),
            SIGNATURE_HEADER: sign(self.secret, now, body),
        }
        post_json(self.url, body, headers, self.timeout)


@dataclass(frozen=True)
class SlackChannel:
    url: str
    public_url: str
    timeout: float
    min_severity: Severity
    name: str = "slack"

    def send(self, delivery: Claimed) -> None:
        post_json(self.url, render.slack_body(delivery, self.public_url), {}, self.timeout)


@dataclass(frozen=True)
class EmailChannel:
    """SMTP through smtplib: ``smtp://`` plain, ``smtp+starttls://`` upgraded, ``smtps://``
    TLS from the start; user and password from the URL."""

    smtp_url: str
    sender: str
    recipients: tuple[str, ...]
    public_url: str
    timeout: float
    min_severity: Severity
    name: str = "email"

    def send(self, delivery: Claimed) -> None:
        message = render.email_message(
            delivery, self.public_url, self.sender, list(self.recipients)
        )
        try:
            self._send(message)
        except Exception as exc:
            raise _smtp_failure(exc, self.timeout) from None

    def _send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.smtp_url)
        host = parts.hostname or ""
        smtp: smtplib.SMTP
        if parts.scheme == "smtps":
            context = ssl.create_default_context()
            port = parts.port or 465
            smtp = smtplib.SMTP_SSL(host, port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout)
        with smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)


def _smtp_failure(exc: Exception, timeout: float) -> Exception:
    """What an SMTP error means for a retry: 4xx replies are transient, 5xx are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        retryable = all(400 <= code < 500 for code in codes)
        return SendFailed(f"SMTP refused every recipient ({codes})", retryable=retryable)
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendFailed(f"SMTP {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500)
    if isinstance(exc, TimeoutError):
        return SendFailed(f"no SMTP answer within {timeout:g} s", retryable=True)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return SendFailed(f"SMTP connection failed: {type(exc).__name__}", retryable=True)
    return exc


def build_channels(settings: NotificationSettings) -> list[Channel]:
    """Every channel the settings turn on, named ``webhook-1``…, ``slack``, ``email``."""
    public, timeout, least = (
        settings.public_url,
        settings.notify_timeout_seconds,
        settings.notify_min_severity,
    )
    channels: list[Channel] = []
    if settings.notify_webhook_urls and settings.notify_webhook_secret is not None:
        secret = settings.notify_webhook_secret.get_secret_value()
        for n, url in enumerate(settings.notify_webhook_urls, 1):
            channels.append(
                WebhookChannel(
                    f"webhook-{n}",
                    url,
                    secret,
                    public,
                    timeout,
                    settings.notify_webhook_min_severity or least,
                )
            )
    if settings.notify_slack_webhook_url is not None:
        channels.append(
            SlackChannel(
                settings.notify_slack_webhook_url.get_secret_value(),
                public,
                timeout,
                settings.notify_slack_min_severity or least,
            )
        )
    if settings.smtp_url is not None and settings.notify_email_from:
        channels.append(
            EmailChannel(
                settings.smtp_url.get_secret_value(),
                settings.notify_email_from,
                tuple(settings.notify_email_to),
                public,
                timeout,
                settings.notify_email_min_severity or least,
            )
        )
    return channels


def routes(channels: list[Channel]) -> list[Route]:
    return [Route(channel.name, channel.min_severity) for channel in channels]
