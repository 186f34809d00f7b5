"""core.breaking_migrations: which pending operations break the release
still serving during a deploy. Migrations built in memory, judged against
an in-memory state of the old release: no database."""

import pytest
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from core.breaking_migrations import breaking_operations


def old_release() -> ProjectState:
    """What the old release's models describe: catalog.Item and a Tag."""
    state = ProjectState()
    item = migrations.CreateModel(
        "Item",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("note", models.TextField(null=True)),
            ("code", models.CharField(max_length=10)),
            ("label", models.CharField(max_length=10, db_column="label")),
        ],
    )
    tag = migrations.CreateModel("Tag", [("id", models.BigAutoField(primary_key=True))])
    for operation in (item, tag):
        operation.state_forwards("catalog", state)
    return state


def migration(name: str, *operations) -> migrations.Migration:
    built = migrations.Migration(name, "catalog")
    built.operations = list(operations)
    return built


def judged(*operations) -> list[str]:
    return breaking_operations([(migration("0002_x", *operations), False)], old_release())


@pytest.mark.parametrize(
    ("operation", "finding"),
    [
        (
            migrations.RemoveField("item", "note"),
            "RemoveField item.note (old code still selects the column)",
        ),
        (
            migrations.DeleteModel("Item"),
            "DeleteModel item (old code still queries the table)",
        ),
        (
            migrations.RenameField("item", "note", "memo"),
            "RenameField item.note to memo (old code still uses the old column name)",
        ),
        (
            migrations.RenameModel("Item", "Product"),
            "RenameModel item to product (old code still queries the old table name)",
        ),
        (
            migrations.AlterModelTable("item", "catalog_things"),
            "AlterModelTable item to catalog_things (old code still queries the old table name)",
        ),
        (
            migrations.AlterField("item", "note", models.TextField()),
            "AlterField item.note makes the column NOT NULL (old code may still write NULL)",
        ),
        (
            migrations.AddField("item", "colour", models.CharField(max_length=20, default="")),
            (
                "AddField item.colour adds a NOT NULL column without db_default "
                "(old code's INSERTs leave it out and fail)"
            ),
        ),
        (
            migrations.SeparateDatabaseAndState(
                database_operations=[migrations.RemoveField("item", "note")]
            ),
            "RemoveField item.note (old code still selects the column)",
        ),
    ],
)
def test_each_breaking_operation_is_named_with_its_migration_and_why(operation, finding):
    assert judged(operation) == [f"catalog.0002_x: {finding}"]


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddField("item", "colour", models.CharField(max_length=20, null=True)),
        migrations.AddField(
            "item", "colour", models.CharField(max_length=20, db_default="red", default="red")
        ),
        migrations.AddField("item", "tags", models.ManyToManyField("catalog.Tag")),
        migrations.AlterField("item", "code", models.CharField(max_length=20)),  # was NOT NULL
        migrations.AlterField("item", "note", models.TextField(null=True, blank=True)),
        migrations.RenameField("item", "label", "title"),  # db_column keeps the column
        migrations.AddIndex("item", models.Index(fields=["code"], name="item_code_idx")),
        migrations.RunSQL("UPDATE catalog_item SET code = upper(code)"),
        migrations.RunPython(migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveField("item", "note")]
        ),
    ],
)
def test_operations_the_old_release_survives(operation):
    assert judged(operation) == []


def test_what_the_plan_itself_creates_can_go_again():
    plan = [
        (
            migration(
                "0002_add",
                migrations.AddField("item", "extra", models.TextField(null=True)),
                migrations.CreateModel("Draft", [("id", models.BigAutoField(primary_key=True))]),
            ),
            False,
        ),
        (
            migration(
                "0003_drop",
                migrations.RemoveField("item", "extra"),
                migrations.DeleteModel("Draft"),
            ),
            False,
        ),
    ]
    assert breaking_operations(plan, old_release()) == []


def test_an_unapply_step_breaks():
    plan = [(migration("0002_x", migrations.RunSQL("SELECT 1")), True)]
    assert breaking_operations(plan, old_release()) == [
        "catalog.0002_x: unapply (old code expects the schema it undoes)"
    ]


def test_a_fresh_database_is_never_refused():
    """Every shipped migration on an empty database (contenttypes.0002 removes
    a field of a table the same plan creates)."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    keys = dict.fromkeys(key for leaf in graph.leaf_nodes() for key in graph.forwards_plan(leaf))
    plan = [(graph.nodes[key], False) for key in keys]
    assert any(key == ("contenttypes", "0002_remove_content_type_name") for key in keys)
    assert breaking_operations(plan, ProjectState()) == []
