"""Say what a deploy would do to the database, before it does anything.

Exit status (run.sh decides on it):
  0   nothing to migrate
  10  migrations are pending (listed on stdout, one per line)
  11  refused: models have changes with no migration (production only;
      development prints a warning and goes on)
"""

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.migration_gate import gate_message, models_without_migrations

PENDING = 10
REFUSED = 11


class Command(BaseCommand):
    help = "Check the migration gate and list pending migrations (exit 0, 10 or 11)."

    def handle(self, *args, **options):
        # The entrypoint does not wait first: one Django start, not two.
        call_command("wait_for_db")
        changes = models_without_migrations()
        if changes and not settings.DEBUG:
            self.stderr.write(f"REFUSED: {gate_message(changes)}")
            sys.exit(REFUSED)
        if changes:
            self.stderr.write(f"WARNING: {gate_message(changes)}")
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        for migration, backwards in plan:
            direction = "unapply" if backwards else "apply"
            self.stdout.write(f"{direction} {migration.app_label}.{migration.name}")
        if plan:
            sys.exit(PENDING)
