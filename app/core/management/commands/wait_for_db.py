"""Block until the default database accepts a real connection.

The timeout is --timeout, else DB_WAIT_TIMEOUT, else 30 seconds: the one
place that setting is read (entrypoint roles and gunicorn's master call
this command).
"""

import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

RETRY_INTERVAL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Wait until the database accepts connections; fail after --timeout seconds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds to keep trying before giving up (default: DB_WAIT_TIMEOUT, or 30)",
        )

    def handle(self, *args, timeout: float | None, **options):
        if timeout is None:
            timeout = _timeout_from_env()
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection.ensure_connection()
                return
            except OperationalError as error:
                connection.close()
                if time.monotonic() >= deadline:
                    raise CommandError(self._give_up_message(timeout, error)) from error
                time.sleep(RETRY_INTERVAL_SECONDS)

    @staticmethod
    def _give_up_message(timeout: float, error: OperationalError) -> str:
        db = connection.settings_dict
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        return (
            f"database {db['NAME']} at {db['HOST']}:{db['PORT']} not reachable after "
            f"{timeout:g}s ({reason}). Is the db service up (sh run.sh ps)? "
            "Do POSTGRES_* / DATABASE_URL in .env match it?"
        )


def _timeout_from_env() -> float:
    raw = os.environ.get("DB_WAIT_TIMEOUT", "").strip()
    if not raw:
        return 30.0
    try:
        return float(raw)
    except ValueError:
        raise CommandError(f"DB_WAIT_TIMEOUT must be a number of seconds, got {raw!r}") from None
