"""Migrations the running release cannot survive.

During a production deploy the old web keeps serving against the new schema
until the new release replaces it, so the migration plan names each pending
operation that breaks the old code (``breaking_operations``), and the plan
refuses them unless the operator allows it (migration_plan's exit 12).

An operation is judged against ``before``, the project state of the applied
migrations: what the old release's models describe (the migration gate makes
sure models and migrations agree). It breaks the old release when it touches
a table the old models use (a managed, non-proxy model of ``before``) and:

- RemoveField, DeleteModel: old code still selects the column, the table;
- RenameField, RenameModel, AlterModelTable: old code still uses the old name
  (unless a ``db_column`` or ``db_table`` keeps it);
- AlterField that makes a nullable column NOT NULL (the field in ``before``
  has null=True, the new one null=False): old code may still write NULL.
  Judged against ``before``, not the operation alone: most AlterFields (a
  length, a default, a verbose name) keep null=False and are harmless, and a
  NOT NULL field that was already NOT NULL changes nothing for old code.
  Other changes of type or length are not judged;
- AddField of a NOT NULL column without ``db_default``: Django drops a Python
  ``default`` once the column is added, so old code's INSERTs, which leave
  the column out, fail. Nullable, ``db_default``, many-to-many and generated
  fields are harmless;
- any backwards (unapply) step: old code expects the schema it undoes.

Operations on a model or field that the plan itself creates are harmless:
old code never used them (so a fresh database, whose plan creates every
table, is never refused). SeparateDatabaseAndState is judged by its
database operations only. RunSQL and RunPython cannot be judged and are never
refused: review them by hand. Nor are constraints, indexes and
AlterOrderWithRespectTo judged.
"""

from collections.abc import Iterable, Sequence

from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import (
    AddField,
    AlterField,
    AlterModelTable,
    DeleteModel,
    RemoveField,
    RenameField,
    RenameModel,
    SeparateDatabaseAndState,
)
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import Field

Plan = Sequence[tuple[Migration, bool]]


def breaking_operations(plan: Plan, before: ProjectState) -> list[str]:
    """One line per operation of ``plan`` (as MigrationExecutor.migration_plan
    returns it) that breaks code written for ``before``:
    ``app.migration: Operation model.field (why old code breaks)``."""
    findings = []
    for migration, backwards in plan:
        name = f"{migration.app_label}.{migration.name}"
        if backwards:
            findings.append(f"{name}: unapply (old code expects the schema it undoes)")
            continue
        for operation in _database_operations(migration.operations):
            finding = _judge(operation, migration.app_label, before)
            if finding:
                findings.append(f"{name}: {finding}")
    return findings


def applied_state(loader: MigrationLoader) -> ProjectState:
    """The project state of the migrations applied to the loader's database."""
    applied = [key for key in loader.applied_migrations or {} if key in loader.graph.nodes]
    return loader.project_state(applied, at_end=True)


def _database_operations(operations: Iterable[Operation]) -> Iterable[Operation]:
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _database_operations(operation.database_operations)
        else:
            yield operation


def _old_table(before: ProjectState, app_label: str, model_name: str) -> ModelState | None:
    """The model as the old release has it, if it has a table of its own."""
    model = before.models.get((app_label, model_name.lower()))
    if model is None or model.options.get("proxy") or not model.options.get("managed", True):
        return None
    return model


def _old_field(
    before: ProjectState, app_label: str, model_name: str, field_name: str
) -> Field | None:
    model = _old_table(before, app_label, model_name)
    if model is None:
        return None
    return next((f for n, f in model.fields.items() if n.lower() == field_name.lower()), None)


def _judge(operation: Operation, app_label: str, before: ProjectState) -> str | None:
    """Why ``operation`` breaks the old release, or None."""
    if isinstance(operation, RemoveField):
        if _old_field(before, app_label, operation.model_name, operation.name):
            where = f"{operation.model_name_lower}.{operation.name}"
            return f"RemoveField {where} (old code still selects the column)"
    elif isinstance(operation, RenameField):
        old = _old_field(before, app_label, operation.model_name, operation.old_name)
        if old is not None and not old.db_column:  # a db_column keeps its name
            where = f"{operation.model_name_lower}.{operation.old_name}"
            return (
                f"RenameField {where} to {operation.new_name} "
                "(old code still uses the old column name)"
            )
    elif isinstance(operation, AlterField):
        old = _old_field(before, app_label, operation.model_name, operation.name)
        if old is not None and old.null and not operation.field.null:
            where = f"{operation.model_name_lower}.{operation.name}"
            return f"AlterField {where} makes the column NOT NULL (old code may still write NULL)"
    elif isinstance(operation, AddField):
        field = operation.field
        harmless = (
            field.null
            or field.many_to_many
            or field.has_db_default()
            or getattr(field, "generated", False)
        )
        if not harmless and _old_table(before, app_label, operation.model_name):
            where = f"{operation.model_name_lower}.{operation.name}"
            return (
                f"AddField {where} adds a NOT NULL column without db_default "
                "(old code's INSERTs leave it out and fail)"
            )
    elif isinstance(operation, DeleteModel):
        if _old_table(before, app_label, operation.name):
            return f"DeleteModel {operation.name_lower} (old code still queries the table)"
    elif isinstance(operation, RenameModel):
        model = _old_table(before, app_label, operation.old_name)
        if model is not None and not model.options.get("db_table"):  # else the table stays
            return (
                f"RenameModel {operation.old_name_lower} to {operation.new_name_lower} "
                "(old code still queries the old table name)"
            )
    elif isinstance(operation, AlterModelTable):
        model = _old_table(before, app_label, operation.name)
        if model is not None and model.options.get("db_table") != operation.table:
            return (
                f"AlterModelTable {operation.name_lower} to {operation.table} "
                "(old code still queries the old table name)"
            )
    return None
