#!/bin/sh
# entrypoint.sh: entrypoint of the web image. The first argument names a role:
#   serve         gunicorn, the production server (the default)
#   runserver     Django's autoreloading development server, once the
#                 storage of uploads answers (manage.py check_storage)
#   plan [--allow-breaking]
#                 the migration gate and the pending migrations (exit 0: none,
#                 10: some, 11: models lack a migration, 12: some break the
#                 release still serving, refused unless --allow-breaking;
#                 core/.../migration_plan.py)
#   migrate       apply migrations under an advisory lock (one-shot), then
#                 ensure the superuser when DJANGO_SUPERUSER_USERNAME is set
#   superuser     create the DJANGO_SUPERUSER_* superuser if it does not exist
#   work          the background-task worker (django-ox's ox_worker), once
#                 the database and the storage answer; SIGTERM lets its
#                 running tasks finish
#   worker-health the worker's health check: its loop's heartbeat file is
#                 fresh (ox_health; no database query)
#   manage ARGS   any manage.py command, e.g. `manage showmigrations`
# Each of these but worker-health waits for the database first
# (DB_WAIT_TIMEOUT seconds, 30 by default); gunicorn (docker/gunicorn.conf.py),
# plan and migrate do it themselves, with Django already loaded. Anything else runs as given:
# `sh`, `python -V`, ...
set -eu

_manage() {
  python /app/manage.py "$@"
}

# Touched by the worker's loop on every pass (1 s when idle), in its /tmp.
WORKER_HEARTBEAT=/tmp/worker.heartbeat

_wait_for_db() {
  _manage wait_for_db
}

role="${1:-serve}"
if [ "$#" -gt 0 ]; then
  shift
fi

case "$role" in
  serve)
    # gunicorn itself parses WEB_CONCURRENCY; empty means "the default" here.
    if [ -z "${WEB_CONCURRENCY:-}" ]; then
      unset WEB_CONCURRENCY
    fi
    exec gunicorn --config /etc/gunicorn.conf.py config.wsgi
    ;;
  runserver)
    # The database, then the storage of uploads, as gunicorn checks at start
    # (one process: core/management/commands/start_checks.py).
    _manage start_checks
    exec python /app/manage.py runserver 0.0.0.0:8000
    ;;
  plan)
    exec python /app/manage.py migration_plan "$@"
    ;;
  migrate)
    exec python /app/manage.py migrate_locked
    ;;
  superuser)
    _wait_for_db
    exec python /app/manage.py ensure_superuser
    ;;
  work)
    _manage start_checks
    # Empty WORKER_CONCURRENCY: ox_worker's own default (one at a time).
    set -- --heartbeat-file "$WORKER_HEARTBEAT"
    if [ -n "${WORKER_CONCURRENCY:-}" ]; then
      set -- "$@" --concurrency "$WORKER_CONCURRENCY"
    fi
    exec python /app/manage.py ox_worker "$@"
    ;;
  worker-health)
    exec python /app/manage.py ox_health \
      --heartbeat-file "$WORKER_HEARTBEAT" --max-heartbeat-age 15
    ;;
  manage)
    _wait_for_db
    exec python /app/manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
