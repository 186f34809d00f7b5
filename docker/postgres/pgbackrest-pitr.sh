#!/bin/sh
# pgbackrest-pitr: the database cluster's WAL archive (pgBackRest), as the
# postgres user in the db container. Each cluster has an archive of its own,
# a stanza named after its system identifier and kept in the data directory
# (pgbackrest.stanza): a data volume that replaces a lost one starts its own
# beside the old one, which stays there to be recovered (restore --time),
# and a restore of the old cluster brings its file back with it. (The name
# holds "pgbackrest": pgBackRest checks that archive_command does.)
#   pgbackrest-pitr setup         name this cluster's stanza and create it
#                                 (idempotent): at initdb (initdb-pitr.sh),
#                                 and from sh run.sh -0 for a cluster older
#                                 than the archive
#   pgbackrest-pitr stanza        print the stanza's name (empty: none yet)
#   pgbackrest-pitr backup        setup, then a full base backup (the
#                                 scheduled backups run it through SQL,
#                                 driver/scheduled.py); pgBackRest then expires
#                                 what PGBACKREST_REPO1_RETENTION_FULL lets go
#   pgbackrest-pitr archive FILE  archive_command (compose.yml), run in the
#                                 data directory: FILE (%p) to the stanza
#   pgbackrest-pitr health        db's health check (compose.yml): ready for
#                                 queries on TCP, and archive_timeout awake
set -eu
data="${PGDATA:-/var/lib/postgresql/data}"
file="$data/pgbackrest.stanza"

_setup() {
  if [ ! -f "$file" ]; then
    id="$(pg_controldata "$data" | sed -n 's/^Database system identifier: *//p')"
    if [ -z "$id" ]; then
      echo "pgbackrest-pitr: pg_controldata gave no system identifier for $data" >&2
      exit 1
    fi
    printf 'db-%s\n' "$id" > "$file"
  fi
  stanza="$(cat "$file")"
  # Created already (the usual case): nothing to do, and no pgBackRest lock
  # taken beside a base backup that runs meanwhile (a scheduled one).
  repo="${PGBACKREST_REPO1_PATH:-/var/lib/pgbackrest}"
  if [ -f "$repo/archive/$stanza/archive.info" ] && [ -f "$repo/backup/$stanza/backup.info" ]; then
    return 0
  fi
  pgbackrest --stanza="$stanza" stanza-create
}

case "${1:-}" in
  setup)
    _setup
    ;;
  stanza)
    if [ -f "$file" ]; then
      cat "$file"
    fi
    ;;
  backup)
    _setup
    exec pgbackrest --stanza="$(cat "$file")" backup --type=full
    ;;
  archive)
    # A cluster not set up yet archives nothing and lets PostgreSQL recycle
    # the segment: with no base backup, no recovery could use it, and a
    # failing archive_command keeps every segment in pg_wal until the disk
    # fills.
    if [ ! -f "$file" ]; then
      exit 0
    fi
    exec pgbackrest --stanza="$(cat "$file")" archive-push "$2"
    ;;
  health)
    pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"
    # PostgreSQL's checkpointer forces archive_timeout's segment switches,
    # but when it first sleeps while the server is still starting (or
    # recovering) it sleeps for checkpoint_timeout, 5 minutes, and writes
    # wait that long for the archive (seen after every start here). A
    # reload wakes it: once per container start (/tmp is a new tmpfs), as
    # soon as recovery has ended.
    awake=/tmp/pitr-checkpointer-awake
    if [ ! -f "$awake" ]; then
      woken="$(psql -X -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
        -c "SELECT NOT pg_is_in_recovery() AND pg_reload_conf()" 2>/dev/null)" || woken=""
      if [ "$woken" = "t" ]; then
        : > "$awake"
      fi
    fi
    ;;
  *)
    echo "usage: pgbackrest-pitr setup | stanza | backup | archive FILE | health" >&2
    exit 2
    ;;
esac
