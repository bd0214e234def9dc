"""The console's blueprint and how its pages are answered: rendered with who is signed in,
an error page, a 303 after a form, and the fingerprinted static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, send_file, url_for

from incident_api.console import assets
from warehouse.users import Role

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


def page(template: str, status: int = 200, **context: Any) -> Response:
    claims = g.get("token_claims")
    # Every form sends the CSRF value of the access cookie's token (the double submit).
    context.setdefault("csrf", claims.get("csrf", "") if claims else "")
    body = render_template(
        f"console/{template}",
        user=claims["sub"] if claims else None,
        role=claims["role"] if claims else None,
        can_act=bool(claims) and Role(claims["role"]).allows(Role.RESPONDER),
        asset=lambda name: url_for("console.asset", name=assets.fingerprints()[name]),
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


def see_other(target: str) -> Response:
    """A 303 to ``target``: after a form, the browser GETs the page (no resubmission)."""
    return Response(status=303, headers={"Location": target})


def error_page(status: int, message: str) -> Response:
    return page("error.html", status=status, message=message)


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    path: Path | None = assets.by_fingerprint().get(name)
    if path is None:
        abort(404)
    response = send_file(path, max_age=365 * 24 * 3600)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
