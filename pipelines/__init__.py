"""Dagster face: assets, checks, sensors and schedules (built by later issues)."""
