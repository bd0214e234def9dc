"""alembic migrations: the schema's single source (applied by warehouse.migrate)."""
