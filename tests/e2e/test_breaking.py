"""A migration the running release cannot survive, end to end: a production
deploy refuses it, and deploys it only with --allow-breaking."""

import pytest

from support import add_fixture_migrations
from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e


def description_columns(stack) -> str:
    return stack.psql(
        "prod",
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'catalog_item' AND column_name = 'description'",
    )


def applied_migrations(stack) -> str:
    return stack.psql(
        "prod", "SELECT string_agg(app || '.' || name, ',' ORDER BY id) FROM django_migrations"
    )


def test_a_dropped_column_is_refused_unless_allowed(own_stack):
    own_stack.write_env(**production_settings())
    own_stack.run_sh("-0")
    applied = applied_migrations(own_stack)
    # The next release: the migration, and the model and view without the field.
    add_fixture_migrations(own_stack, "0100_fixture_drop_column.py")
    own_stack.edit("app/catalog/models.py", r"^    description = .*\n", "")
    own_stack.edit("app/catalog/views.py", r'"description", ', "")

    refused = own_stack.run_sh("-0", check=False)
    assert refused.returncode == 1, refused.stderr[-3000:]
    output = refused.stdout + refused.stderr
    assert "RemoveField" in output
    assert "--allow-breaking" in output
    assert "models have changes with no migration file" not in output  # not the gate
    assert "could not read the migration plan" not in output  # the driver knows exit 12
    assert description_columns(own_stack) == "1"
    assert applied_migrations(own_stack) == applied

    allowed = own_stack.run_sh("-0", "--allow-breaking", check=False)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert description_columns(own_stack) == "0"
    assert "catalog.0100_fixture_drop_column" in applied_migrations(own_stack)
