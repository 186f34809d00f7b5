"""What a server checks before it serves, in one process: the database
accepts connections (wait_for_db, DB_WAIT_TIMEOUT), then uploads can be
stored (check_storage). gunicorn's master (docker/gunicorn.conf.py) and
entrypoint.sh's runserver and work roles run it; each exits on a
CommandError. Django's system checks come after it, in the server or worker
itself: one of them (files.E001) refuses the upload spool that
check_storage makes when a volume lacks it (a fresh or restored one)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Wait for the database, then check the storage of uploads: a server's start-up checks."
    requires_system_checks = []

    def handle(self, *args, **options):
        call_command("wait_for_db")
        call_command("check_storage", verbosity=options["verbosity"])
