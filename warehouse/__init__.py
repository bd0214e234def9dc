"""Persistence: every byte driftwatch stores.

The SQL incident store (SQLAlchemy 2; SQLite by default, PostgreSQL via psycopg 3; alembic
migrations as the schema's single source) and, with the pipelines, the Parquet snapshot
store. Never imports the faces (pipelines/, incident_api/).
"""
