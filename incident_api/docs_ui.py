"""``/docs``: Swagger UI for ``/openapi.json``, its files served from the swagger-ui-py
package (nothing fetched from a CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import swagger_ui
from flask import Blueprint, Response

ASSETS: Final = Path(swagger_ui.__file__).resolve().parent / "static"

bp = Blueprint(
    "docs", __name__, url_prefix="/docs", static_folder=str(ASSETS), static_url_path="/static"
)

PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>driftwatch incident API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

INIT: Final = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
"""


@bp.get("/")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@bp.get("/init.js")
def init() -> Response:
    return Response(INIT, mimetype="text/javascript")
