"""The incident console: server-rendered pages for the people who work incidents, in the same
app, on the same store, roles and tokens as the API (flask-jwt-extended's cookie tokens with
its double-submit CSRF check). Nothing is fetched from elsewhere: the CSS is a fingerprinted
file of ours and the charts are SVG drawn on the server."""

from incident_api.console import access, datasets, views  # noqa: F401 — they register routes
from incident_api.console.pages import bp

__all__ = ["bp"]
