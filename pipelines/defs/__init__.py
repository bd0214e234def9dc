"""Resources, assets, checks, sensors and schedules; assembled in pipelines/definitions.py."""
