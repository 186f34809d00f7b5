"""What a production configuration must satisfy before it is served.

The one copy of these rules: Django's settings raise on them at import
(plain ``docker compose up`` and every other way the settings load), and
run.sh's driver (driver/policy.py) refuses the same ``.env`` before any
container starts. Standard library only, and Python 3.9 syntax: the driver
runs on the server's own python3.
"""

from __future__ import annotations

from dataclasses import dataclass

# The development database password shipped in .env.example.
EXAMPLE_DB_PASSWORD = "dev-password-not-for-production"

SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
WEAK_SECRET_KEY_PREFIX = "django-insecure"
GENERATE_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


@dataclass(frozen=True)
class Problem:
    """One reason not to serve: what is wrong, and how to fix it."""

    reason: str
    fix: str


def secret_key_problem(secret_key: str) -> Problem | None:
    """Why ``secret_key`` is unfit for production, or None when it is fit."""
    fix = f"generate one with {GENERATE_KEY}"
    if not secret_key:
        return Problem("SECRET_KEY is not set", fix)
    if secret_key.startswith(WEAK_SECRET_KEY_PREFIX) or "change-me" in secret_key:
        return Problem("SECRET_KEY is a placeholder value", fix)
    if len(secret_key) < SECRET_KEY_MIN_LENGTH:
        return Problem(f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters", fix)
    if len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        reason = f"SECRET_KEY has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
        return Problem(reason, fix)
    return None


def db_password_problem(password: str) -> Problem | None:
    """Why ``password`` must not guard the production database, or None."""
    fix = "set a strong database password"
    if not password:
        return Problem("POSTGRES_PASSWORD is empty", fix)
    if password == EXAMPLE_DB_PASSWORD:
        return Problem("POSTGRES_PASSWORD is the example value", fix)
    return None


def production_problems(
    *, secret_key: str | None, allowed_hosts: list[str], db_password: str | None
) -> list[Problem]:
    """Every reason the given production settings must not be served.

    None stands for a value this caller cannot see (a secret read from a
    file inside the container, or the password of a DATABASE_URL database
    that is not this stack's): it is not judged.
    """
    problems = []
    if secret_key is not None:
        problems.append(secret_key_problem(secret_key))
    if not [host for host in allowed_hosts if host.strip()]:
        fix = "list the host names the site answers to, e.g. ALLOWED_HOSTS=example.com"
        problems.append(Problem("ALLOWED_HOSTS is empty", fix))
    if db_password is not None:
        problems.append(db_password_problem(db_password))
    return [problem for problem in problems if problem is not None]
