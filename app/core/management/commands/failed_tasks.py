"""List the background tasks that failed, and enqueue them again.

``sh run.sh tasks`` runs this in a one-off container; the admin's task list
(django-ox) shows the same rows, each attempt's traceback, and has the same
retry as an action. FAILED: the task raised on its last attempt; LOST: its
worker died (kill -9, out of memory) on its last attempt.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_ox import actions
from django_ox.models import OxTask

FAILED = ("FAILED", "LOST")
LIMIT = 50


def error_line(task: OxTask) -> str:
    """The last attempt's exception, in one line."""
    if not task.errors:
        return "(no error recorded: its worker died)"
    last = task.errors[-1]
    name = str(last.get("exception_class_path", "")).rpartition(".")[2]
    lines = str(last.get("traceback", "")).strip().splitlines()
    return f"{name}: {lines[-1] if lines else ''}"[:160]


class Command(BaseCommand):
    help = "List failed background tasks (newest first); --retry ID... or --retry-all enqueues them again."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--retry", nargs="+", metavar="ID", default=[], help="task ids to retry")
        which.add_argument("--retry-all", action="store_true", help="retry every failed task")

    def handle(self, *args: object, **options: object) -> None:
        failed = OxTask.objects.filter(status__in=FAILED)
        ids = options["retry"]
        if options["retry_all"] or ids:
            selection = failed if options["retry_all"] else list(ids)  # type: ignore[arg-type]
            try:
                changed, skipped = actions.retry_many(selection)
            except ValueError as error:
                raise CommandError(f"could not retry: {error}") from None
            self.stdout.write(f"enqueued again: {changed}; not failed or not found: {skipped}")
            if skipped and not changed:
                raise CommandError("nothing was retried: give the ids this command lists")
            return
        count = failed.count()
        if not count:
            self.stdout.write("no failed tasks")
            return
        for task in failed.order_by("-finished_at")[:LIMIT]:
            when = task.finished_at.isoformat(timespec="seconds") if task.finished_at else "-"
            self.stdout.write(
                f"{task.id}  {task.status:<6}  {when}  {task.task_path}  "
                f"attempts {task.attempts}/{task.max_attempts}  {error_line(task)}"
            )
        more = f" (the newest {LIMIT} shown)" if count > LIMIT else ""
        self.stdout.write(f"{count} failed{more}; sh run.sh tasks --retry ID... or --retry-all")
