"""Flask face: the incident REST API.

``create_app()`` is the factory (``flask --app incident_api``, ``gunicorn
'incident_api:create_app()'``). Never imports pipelines/.
"""

from incident_api.app import create_app
from incident_api.settings import ConfigError

__all__ = ["ConfigError", "create_app"]
