"""The stack's own background tasks (scheduled in config/tasks.py)."""

from django.conf import settings
from django.core.management import call_command
from django_tasks import task


@task
def prune_task_results() -> None:
    """Delete finished task results older than TASK_RESULTS_KEEP_DAYS; failed
    ones too, once that old (they can be retried until then)."""
    days = settings.TASK_RESULTS_KEEP_DAYS
    call_command("ox_prune", "--older-than", f"{days}d", "--include-failed")
