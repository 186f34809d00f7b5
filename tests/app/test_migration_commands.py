"""migration_plan and migrate_locked against the real (test) database: the
exit statuses run.sh decides on, and the advisory lock that makes two
migrate runs take turns. The deploy paths around them are in e2e/test_ops.py.
"""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connections

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
    out = io.StringIO()
    try:
        with pytest.raises(SystemExit) as exit_:
            call_command("migration_plan", stdout=out)
    finally:
        call_command("migrate", "catalog", verbosity=0)
    assert exit_.value.code == 10
    assert out.getvalue().splitlines() == ["apply catalog.0001_initial"]


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
