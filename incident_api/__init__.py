"""Flask face: the incident REST API (built by later issues)."""
