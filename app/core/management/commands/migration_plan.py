"""Say what a deploy would do to the database, before it does anything.

Exit status (run.sh decides on it):
  0   nothing to migrate
  10  migrations are pending (listed on stdout, one per line); with
      --allow-breaking, also when they break the running release (the
      findings are then a WARNING on stderr)
  11  refused: models have changes with no migration (production only;
      development prints a warning and goes on); comes before 12
  12  refused: pending migrations break the release still serving during
      the deploy (listed on stdout as for 10, the breaking operations on
      stderr; production only: development prints a warning and goes on)
"""

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.breaking_migrations import applied_state, breaking_operations
from core.migration_gate import gate_message, models_without_migrations

PENDING = 10
REFUSED = 11
BREAKING = 12


def breaking_message(findings: list[str], refused: bool) -> str:
    """The findings in one paragraph, and what to do (refused) or what it costs."""
    listed = "\n".join(f"  {finding}" for finding in findings)
    if refused:
        advice = (
            "Split the change into expand-then-contract across two releases (README: "
            '"Schema changes during deploys"), or deploy with '
            "`sh run.sh -0 --allow-breaking`, accepting that the old release errors "
            "until the switch."
        )
    elif settings.DEBUG:
        advice = (
            "Development goes on (no old release serves here); a production deploy "
            "refuses them unless --allow-breaking is given."
        )
    else:
        advice = "Allowed by --allow-breaking: the old release errors until the switch."
    return (
        "pending migrations break the release that keeps serving until the new one "
        f"replaces it:\n{listed}\n{advice}"
    )


class Command(BaseCommand):
    help = "Check the migration gate and list pending migrations (exit 0, 10, 11 or 12)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-breaking",
            action="store_true",
            help="Warn about migrations that break the running release instead of refusing.",
        )

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
        if not plan:
            return
        findings = breaking_operations(plan, applied_state(executor.loader))
        refused = not (settings.DEBUG or options["allow_breaking"])
        if findings:
            label = "REFUSED" if refused else "WARNING"
            self.stderr.write(f"{label}: {breaking_message(findings, refused)}")
            if refused:
                sys.exit(BREAKING)
        sys.exit(PENDING)
