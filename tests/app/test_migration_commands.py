"""migration_plan and migrate_locked against the real (test) database: the
exit statuses run.sh decides on, and the advisory lock that makes two
migrate runs take turns. The deploy paths around them are in e2e/test_ops.py.
"""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connections, migrations
from django.db.migrations.executor import MigrationExecutor

import catalog
from core.management.commands import migration_plan
from core.management.commands.migrate_locked import MIGRATION_LOCK_KEY
from core.migration_gate import gate_message, models_without_migrations


@pytest.fixture
def other_session(django_db_blocker):
    """A database session of its own, like a second deploy's."""
    with django_db_blocker.unblock():
        session = connections.create_connection(DEFAULT_DB_ALIAS)
        yield session
        session.close()


@pytest.mark.django_db
def test_no_model_lacks_its_migration():
    assert models_without_migrations() == ""


def test_gate_message_names_the_change_and_the_fix():
    message = gate_message("Migrations for 'catalog':\n  - Add field colour to item")
    assert "Add field colour to item" in message
    assert "sh run.sh manage makemigrations" in message


@pytest.mark.django_db
def test_plan_of_a_migrated_database_is_empty():
    out = io.StringIO()
    call_command("migration_plan", stdout=out)  # returns: exit status 0
    assert out.getvalue() == ""


@pytest.mark.django_db
def test_plan_lists_pending_migrations_with_exit_status_10():
    call_command("migrate", "catalog", "zero", verbosity=0)
    out, err = io.StringIO(), io.StringIO()
    try:
        with pytest.raises(SystemExit) as exit_:
            call_command("migration_plan", stdout=out, stderr=err)
    finally:
        call_command("migrate", "catalog", verbosity=0)
    assert exit_.value.code == 10
    folder = Path(catalog.__file__).parent / "migrations"
    assert out.getvalue().splitlines() == [
        f"apply catalog.{path.stem}" for path in sorted(folder.glob("0*.py"))
    ]
    # Creating tables, adding a db_default column: nothing breaks.
    assert err.getvalue() == ""


@pytest.fixture
def pending_drop(monkeypatch):
    """A pending migration that drops catalog_item.description, which the
    (migrated) test database and the running code still have."""
    drop = migrations.Migration("0002_drop_description", "catalog")
    drop.operations = [migrations.RemoveField("item", "description")]
    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets, clean_start=False: [(drop, False)],
    )


def plan_exit(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("migration_plan", *args, stdout=out, stderr=err)
    return exit_.value.code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_plan_refuses_a_breaking_migration_with_exit_status_12(pending_drop):
    code, out, err = plan_exit()
    assert code == 12
    assert out.splitlines() == ["apply catalog.0002_drop_description"]
    assert err.startswith("REFUSED: pending migrations break the release")
    assert "catalog.0002_drop_description: RemoveField item.description" in err
    assert "expand-then-contract" in err
    assert "sh run.sh -0 --allow-breaking" in err


@pytest.mark.django_db
def test_plan_with_allow_breaking_warns_and_exits_10(pending_drop):
    code, out, err = plan_exit("--allow-breaking")
    assert code == 10
    assert out.splitlines() == ["apply catalog.0002_drop_description"]
    assert err.startswith("WARNING: pending migrations break the release")
    assert "RemoveField item.description" in err


@pytest.mark.django_db
def test_plan_in_development_never_refuses_a_breaking_migration(pending_drop, settings):
    settings.DEBUG = True
    code, _, err = plan_exit()
    assert code == 10
    assert err.startswith("WARNING: pending migrations break the release")


@pytest.mark.django_db
def test_the_gate_comes_before_the_breaking_check(pending_drop, monkeypatch):
    monkeypatch.setattr(
        migration_plan, "models_without_migrations", lambda: "  - Remove field description"
    )
    code, out, err = plan_exit("--allow-breaking")
    assert code == 11
    assert out == ""
    assert err.startswith("REFUSED: models have changes with no migration file")


@pytest.mark.django_db(transaction=True)
def test_migrate_waits_for_the_lock_and_gives_up_with_a_message(other_session):
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        out = io.StringIO()
        with pytest.raises(CommandError, match="still held the migration lock after 1s"):
            call_command("migrate_locked", lock_timeout=1, stdout=out)
        cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
    assert "another migrate holds the migration lock; waiting" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_migrate_takes_the_lock_when_it_is_free_and_releases_it(other_session):
    out = io.StringIO()
    call_command("migrate_locked", stdout=out)
    assert "No migrations to apply" in out.getvalue()
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        assert cursor.fetchone()[0] is True
        cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
