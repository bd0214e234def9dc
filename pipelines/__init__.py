"""Dagster face: drift assets per daily partition, checks that grade them, and sensors that open
and resolve incidents. ``pipelines.definitions:defs`` is what workspace.yaml loads. Never
imports incident_api/."""
