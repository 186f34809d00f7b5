"""Create the superuser named by DJANGO_SUPERUSER_USERNAME unless it exists.

Idempotent: a second run is a no-op. The password comes from
DJANGO_SUPERUSER_PASSWORD (or DJANGO_SUPERUSER_PASSWORD_FILE) at run time,
never from the image. Without a password, an interactive terminal is
prompted by Django's createsuperuser; anywhere else the command fails.
"""

import sys

import environ
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

env = environ.FileAwareEnv()


class Command(BaseCommand):
    help = "Create the DJANGO_SUPERUSER_* superuser if it does not exist yet."

    def handle(self, *args, **options):
        username = env.str("DJANGO_SUPERUSER_USERNAME", default="")
        email = env.str("DJANGO_SUPERUSER_EMAIL", default="")
        password = env.str("DJANGO_SUPERUSER_PASSWORD", default="")
        if not username:
            raise CommandError(
                "DJANGO_SUPERUSER_USERNAME is not set: add it to .env "
                "(see .env.example) to create a superuser"
            )
        users = get_user_model()
        if users._default_manager.filter(**{users.USERNAME_FIELD: username}).exists():
            self.stdout.write(f"superuser '{username}' already exists; nothing to do")
            return
        if password:
            users._default_manager.create_superuser(username, email, password)
        elif sys.stdin.isatty():
            call_command("createsuperuser", username=username, email=email or None)
        else:
            raise CommandError(
                "DJANGO_SUPERUSER_PASSWORD is not set and there is no terminal to "
                "ask for one: set it in .env (or DJANGO_SUPERUSER_PASSWORD_FILE)"
            )
        self.stdout.write(self.style.SUCCESS(f"superuser '{username}' created"))
