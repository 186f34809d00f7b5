"""The migration gate: model changes that have no migration file.

Production refuses to deploy them (the database would not match the code);
development only warns, because that is where the migration gets written.
"""

import io

from django.core.management import call_command


def models_without_migrations() -> str:
    """What ``makemigrations`` would write now, or "" when every change has
    its migration. Writes nothing and needs no database."""
    report = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=report, verbosity=1)
    except SystemExit as exit_:
        if exit_.code:
            return report.getvalue().strip()
        raise
    return ""


def gate_message(changes: str) -> str:
    return (
        "models have changes with no migration file:\n"
        f"{changes}\n"
        "Write the migration in development (sh run.sh manage makemigrations), "
        "review it and commit it with the model change."
    )
