"""What a production configuration must satisfy before Django serves it.

run.sh applies the same rules in its pre-flight check (``_check_prod_env``),
so a bad ``.env`` is refused before any container starts; these functions
cover plain ``docker compose up`` and any other way the settings are loaded.
"""

# The development database password shipped in .env.example.
EXAMPLE_DB_PASSWORD = "dev-password-not-for-production"

SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
WEAK_SECRET_KEY_PREFIX = "django-insecure"


def secret_key_problem(secret_key: str) -> str | None:
    """Why ``secret_key`` is unfit for production, or None when it is fit."""
    if not secret_key:
        return "SECRET_KEY is not set"
    if secret_key.startswith(WEAK_SECRET_KEY_PREFIX) or "change-me" in secret_key:
        return "SECRET_KEY is a placeholder value"
    if len(secret_key) < SECRET_KEY_MIN_LENGTH:
        return f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"SECRET_KEY has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
    return None


def production_problems(
    *, secret_key: str, allowed_hosts: list[str], db_password: str
) -> list[str]:
    """Every reason the given production settings must not be served."""
    problems = []
    key_problem = secret_key_problem(secret_key)
    if key_problem:
        problems.append(key_problem)
    if not [host for host in allowed_hosts if host.strip()]:
        problems.append("ALLOWED_HOSTS is empty")
    if db_password == EXAMPLE_DB_PASSWORD:
        problems.append("POSTGRES_PASSWORD is the example value from .env.example")
    return problems
