"""alembic is the schema's single source; the models must describe exactly what it builds."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from warehouse.migrate import current_revision, downgrade, head_revision, upgrade
from warehouse.models import Base


def test_models_match_the_migrated_schema(database):
    assert current_revision(database.engine) == head_revision() == "0014"
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(database):
    upgrade(database.engine)
    assert current_revision(database.engine) == "0014"


def test_every_migration_downgrades_and_upgrades_again(database):
    """Each revision's downgrade runs (base and back), and the schema ends as the models say."""
    downgrade(database.engine, "base")
    assert current_revision(database.engine) is None
    upgrade(database.engine)
    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
