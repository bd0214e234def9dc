"""An example Dagster project whose own asset driftwatch monitors (see ../README.md)."""
