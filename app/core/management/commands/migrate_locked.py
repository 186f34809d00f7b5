"""Apply migrations while holding a PostgreSQL advisory lock.

Two deploys, or two replicas, that migrate at the same moment take turns:
the second waits for the lock, then finds nothing left to do. The lock is
a session lock on a connection of its own, so it is released when this
process ends, however it ends. Then, when DJANGO_SUPERUSER_USERNAME is set,
the superuser is ensured.
"""

import time

import environ
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from core.migration_gate import gate_message, models_without_migrations

# Any 64-bit number that no other advisory lock user of the database picks.
MIGRATION_LOCK_KEY = 0x646A616E676F6D67  # "djangomg"
POLL_SECONDS = 0.5

env = environ.FileAwareEnv()


class Command(BaseCommand):
    help = "Run migrate under an advisory lock, then ensure the superuser if configured."

    def add_arguments(self, parser):
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=600.0,
            help="seconds to wait for another migrate to finish (default: 600)",
        )

    def handle(self, *args, lock_timeout: float, **options):
        # The entrypoint does not wait first: one Django start, not two.
        call_command("wait_for_db")
        changes = models_without_migrations()
        if changes and not settings.DEBUG:
            raise CommandError(gate_message(changes))
        if changes:
            self.stderr.write(f"WARNING: {gate_message(changes)}")
        lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            self._acquire(lock_connection, lock_timeout)
            call_command("migrate", interactive=False, stdout=self.stdout, stderr=self.stderr)
        finally:
            lock_connection.close()
        if env.str("DJANGO_SUPERUSER_USERNAME", default=""):
            call_command("ensure_superuser", stdout=self.stdout, stderr=self.stderr)

    def _acquire(self, lock_connection, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        announced = False
        with lock_connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
                if cursor.fetchone()[0]:
                    return
                if not announced:
                    self.stdout.write("another migrate holds the migration lock; waiting for it")
                    announced = True
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"another migrate still held the migration lock after {timeout:g}s; "
                        "is a deploy stuck? (sh run.sh ps; sh run.sh logs migrate)"
                    )
                time.sleep(POLL_SECONDS)
