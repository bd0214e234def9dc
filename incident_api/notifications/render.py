"""What each channel sends for one delivery: the webhook's JSON, Slack's text and blocks, the
email's plain-text and HTML parts. Pure functions of the outbox row and the public URL."""

from __future__ import annotations

import html
import json
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Final

from incident_api.safe import number, one_line, safe_url
from warehouse.notifications import Claimed

_HEADLINES: Final = {
    "incident.opened": "Opened",
    "incident.reopened": "Reopened",
    "incident.severity_raised": "Severity raised",
    "incident.acknowledged": "Acknowledged",
    "incident.assigned": "Assigned",
    "incident.resolved": "Resolved",
}


def incident_url(public_url: str, incident_id: int) -> str:
    """The incident's page in the console, where people work it."""
    return f"{public_url}/console/incidents/{incident_id}"


def incident_of(delivery: Claimed, public_url: str) -> dict[str, Any]:
    """The incident as the outbox row froze it, with its console URL; a ``run_url`` that is
    not a clean http(s) URL is dropped (it would become a link)."""
    incident = dict(delivery.payload["incident"])
    incident["url"] = incident_url(public_url, incident["id"])
    incident["run_url"] = safe_url(incident.get("run_url"))
    return incident


def webhook_body(delivery: Claimed, public_url: str) -> bytes:
    """The generic webhook's body; these exact bytes are what the signature covers."""
    body = {
        "event": delivery.event,
        "delivery_id": delivery.delivery_id,
        "occurred_at": delivery.event_created_at.isoformat(),
        "actor": delivery.payload.get("actor"),
        "change": delivery.payload.get("change", {}),
        "incident": incident_of(delivery, public_url),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _headline(delivery: Claimed, incident: dict[str, Any]) -> str:
    what = _HEADLINES.get(delivery.event, delivery.event)
    return one_line(f"{what}: [{str(incident['severity']).upper()}] {incident['title']}")


def _where(incident: dict[str, Any]) -> str:
    parts = [p for p in (incident.get("dataset"), incident.get("feature")) if p]
    return ".".join(parts) or "—"


def _psi(incident: dict[str, Any]) -> str:
    psi = number(incident.get("psi"))
    return "—" if psi is None else f"{psi:.4f}"


MEMBERS_SHOWN: Final = 8


def _members(incident: dict[str, Any]) -> str | None:
    """A drift incident's members in one line, breaching ones first: ``amount (critical, PSI
    0.91; mostly country=DE: 82 % of the shift), device (warn, PSI 0.15), … 3 more``."""
    members = incident.get("members")
    if not members:
        return None
    ordered = sorted(members, key=lambda m: bool(m.get("recovered")))
    parts = []
    for member in ordered[:MEMBERS_SHOWN]:
        psi = number(member.get("psi"))
        state = "recovered" if member.get("recovered") else str(member.get("status"))
        shown = f", PSI {psi:.2f}" if psi is not None else ""
        where = member.get("where") if not member.get("recovered") else None
        if isinstance(where, str) and where:
            shown += f"; {where}"
        parts.append(f"{member.get('feature')} ({state}{shown})")
    more = len(ordered) - MEMBERS_SHOWN
    return ", ".join(parts) + (f", … {more} more" if more > 0 else "")


def _top_hint(incident: dict[str, Any]) -> str | None:
    """Where the drift is, in one line: the incident's own hint, else its first breaching
    member's (the worst member leads the list)."""
    if isinstance(incident.get("where"), str) and incident["where"]:
        return one_line(incident["where"])
    for member in incident.get("members") or []:
        where = member.get("where")
        if not member.get("recovered") and isinstance(where, str) and where:
            return one_line(f"{member.get('feature')}: {where}")
    return None


def _facts(incident: dict[str, Any], change: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """What every channel shows of an incident, in this order."""
    facts = [
        ("Severity", incident["severity"]),
        ("Status", incident["status"]),
        ("Dataset / feature", _where(incident)),
        ("PSI", _psi(incident)),
    ]
    where = _top_hint(incident)
    if where:
        facts.append(("Where", where))
    members = _members(incident)
    if members:
        facts.append(("Members", members))
    joined = (change or {}).get("new_members")
    if joined:
        facts.append(("New members", ", ".join(str(name) for name in joined)))
    return facts


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters (its "Formatting text" doc)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(delivery: Claimed, public_url: str) -> bytes:
    """An incoming-webhook message: ``text`` (the notification's fallback) and Block Kit
    ``blocks`` — a header, the fields, and links to the incident and the Dagster run."""
    incident = incident_of(delivery, public_url)
    headline = _headline(delivery, incident)
    fields = _facts(incident, delivery.payload.get("change"))
    if incident.get("partition"):
        fields.append(("Partition", str(incident["partition"])))
    links = [f"<{incident['url']}|Incident {incident['id']}>"]
    if incident.get("run_url"):
        links.append(f"<{incident['run_url']}|Dagster run>")
    message = {
        "text": _slack_escape(headline),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)}"}
                    for name, value in fields
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(links)}},
        ],
    }
    return json.dumps(message, separators=(",", ":")).encode()


def email_message(
    delivery: Claimed, public_url: str, sender: str, recipients: list[str]
) -> EmailMessage:
    """A multipart/alternative message; its Message-ID derives from the delivery id, so a
    retried send is recognisably the same message."""
    incident = incident_of(delivery, public_url)
    headline = _headline(delivery, incident)
    rows = [
        *_facts(incident, delivery.payload.get("change")),
        ("Occurrences", str(incident["occurrences"])),
        ("Incident", incident["url"]),
    ]
    if incident.get("run_url"):
        rows.append(("Dagster run", incident["run_url"]))
    message = EmailMessage()
    message["Subject"] = f"[driftwatch] {headline}"  # one line: _headline folds CR/LF
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "driftwatch.invalid"
    message["Message-ID"] = make_msgid(idstring=delivery.delivery_id, domain=domain)
    message["X-Driftwatch-Delivery"] = delivery.delivery_id
    message["X-Driftwatch-Event"] = delivery.event
    text = "\n".join([headline, "", *(f"{name}: {one_line(value)}" for name, value in rows)])
    message.set_content(text + "\n")
    cells = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{_cell(value)}</td></tr>"
        for name, value in rows
    )
    message.add_alternative(
        f"<html><body><h2>{html.escape(headline)}</h2><table>{cells}</table></body></html>",
        subtype="html",
    )
    return message


def _cell(value: str) -> str:
    escaped = html.escape(value)
    return f"<a href='{escaped}'>{escaped}</a>" if safe_url(value) else escaped
