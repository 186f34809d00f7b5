#!/bin/sh
# (The next line ends in a comment so that it still runs when this file has CRLF line endings.)
if grep -q "$(printf '\r')" "$0"; then printf 'run.sh: %s has CRLF line endings; convert it: sed -i "s/\\r$//" %s (and git config core.autocrlf input)\n' "$0" "$0" >&2; exit 1; fi #
# run.sh: one entry point for the Django + PostgreSQL (+ pgAdmin) stack.
#
#   sh run.sh [MODE] [COMMAND [ARGS...]]
#
# POSIX sh (it runs under dash). `sh run.sh help` lists modes and commands;
# the help text of each command is the first comment line of its function.
set -eu

# ENV_FILE and FILE arguments are relative to where run.sh was called.
CALLER_DIR="$PWD"
ENV_FILE_GIVEN=false
if [ -n "${ENV_FILE:-}" ]; then
  ENV_FILE_GIVEN=true
  case "$ENV_FILE" in
    /*) ;;
    *) ENV_FILE="$PWD/$ENV_FILE" ;;
  esac
fi
cd "$(dirname "$0")"
ENV_FILE="${ENV_FILE:-$PWD/.env}"

MODE=""                 # prod | dev | db | host: from the MODE argument, or detected
MODE_GIVEN=false
CREATE_SUPERUSER=false
ENVIRONMENT=""          # Compose's view of the settings: process env + ENV_FILE

# ---------------------------------------------------------------- commands --

up() {
  # Start MODE (default -1) and wait for health; prod backs up before migrating and rolls back a failed migration; -s also creates the superuser
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -s | --superuser) CREATE_SUPERUSER=true ;;
      *) _usage_error "unknown option for $MODE: $1" ;;
    esac
    shift
  done
  _prepare
  _refuse_mode_switch
  _check_ports
  _say "starting the $(_mode_label) stack (project $(_project))"
  if [ "$MODE" = prod ]; then
    _deploy
  else
    _start_dev
  fi
  if [ "$CREATE_SUPERUSER" = true ]; then
    _one_off migrate superuser
  fi
  _print_urls
  if [ "$MODE" = host ]; then
    _run_on_host
  fi
}

down() {
  # Stop and remove the containers of the running stack; volumes (your data) are kept
  for arg in "$@"; do
    case "$arg" in
      -v | --volumes) _die "down never deletes volumes; to delete the dev data on purpose use: sh run.sh reset" ;;
    esac
  done
  _prepare_existing
  _dc down --remove-orphans "$@"
}

logs() {
  # Show recent logs (ARGS go to docker compose logs: -f to follow, a service name)
  _prepare_existing
  _dc logs --tail 200 "$@"
}

ps() {
  # List the stack's containers with their health (alias: status)
  _prepare_existing
  _dc ps --all "$@"
}

manage() {
  # Run a manage.py command in a one-off web container, e.g. manage showmigrations
  [ "$#" -gt 0 ] || _usage_error "manage needs a manage.py command, e.g. sh run.sh manage showmigrations"
  _prepare_existing
  _start_db
  _one_off web manage "$@"
}

superuser() {
  # Create the DJANGO_SUPERUSER_* superuser unless it exists (asks for a password in a terminal)
  [ "$#" -eq 0 ] || _usage_error "superuser takes no arguments; set DJANGO_SUPERUSER_* in $(_env_file_label)"
  _prepare_existing
  _start_db
  _one_off migrate superuser
}

shell() {
  # Open a Django shell in a one-off web container (ARGS go to manage.py shell, e.g. -c 'print(1)')
  _prepare_existing
  _start_db
  _one_off web manage shell "$@"
}

psql() {
  # Open psql on MODE's database, inside its container (ARGS go to psql, e.g. -c 'SELECT 1')
  _prepare_existing
  _require_stack_db psql
  _start_db
  if [ -t 0 ] && [ -t 1 ]; then
    _dc exec db psql -U "$(_db_user)" -d "$(_db_name)" "$@"
  else
    _dc exec -T db psql -U "$(_db_user)" -d "$(_db_name)" "$@"
  fi
}

backup() {
  # Dump MODE's database (pg_dump, custom format) into BACKUP_DIR; keeps the newest BACKUP_KEEP
  [ "$#" -eq 0 ] || _usage_error "backup takes no arguments (BACKUP_DIR and BACKUP_KEEP are settings)"
  _prepare_existing
  _require_stack_db backup
  _start_db
  _backup >/dev/null
}

restore() {
  # Replace MODE's database with a backup FILE after you type its name (--yes: no question); web is stopped meanwhile
  archive=""
  assume_yes=false
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -y | --yes) assume_yes=true ;;
      -*) _usage_error "unknown option for restore: $1" ;;
      *)
        [ -z "$archive" ] || _usage_error "restore takes one FILE; got $archive and $1"
        archive="$1"
        ;;
    esac
    shift
  done
  [ -n "$archive" ] || _usage_error "restore needs a backup FILE, e.g. sh run.sh -0 restore backups/prod-app-20260101T000000Z.dump"
  case "$archive" in
    /*) ;;
    *) archive="$CALLER_DIR/$archive" ;;
  esac
  [ -f "$archive" ] || _die "no such backup file: $archive (sh run.sh backup writes them to $(_backup_dir_label))"
  _prepare_existing
  _require_stack_db restore
  _start_db
  _check_archive "$archive"
  db="$(_db_name)"
  if [ "$assume_yes" = false ]; then
    _say "this replaces every row of the $(_data_mode) database $db with $archive (a backup of it is taken first)."
    printf 'Type the database name (%s) to confirm: ' "$db" >&2
    answer=""
    read -r answer || true
    [ "$answer" = "$db" ] || _die "confirmation did not match; nothing was changed (scripts: --yes)"
  fi
  restore_started="$(date +%s)"
  if _db_exists "$db"; then
    _backup pre-restore >/dev/null
  fi
  web_running="$(_dc ps --status running --quiet web)"
  if [ -n "$web_running" ]; then
    _say "stopping web during the restore"
    _dc stop web
  fi
  if ! _restore_database "$archive"; then
    [ -z "$web_running" ] || _dc start web
    _die "restore failed (above); the database was not changed"
  fi
  if [ -n "$web_running" ]; then
    _dc up --detach --wait --no-deps --no-recreate web || _up_failed
  fi
  _say "restored $archive into $db in $(($(date +%s) - restore_started)) s: $(_db_summary "$db")"
}

doctor() {
  # Check the host and the settings for MODE: one line per check, with the fix for each problem
  [ "$#" -eq 0 ] || _usage_error "doctor takes no arguments"
  _doctor
}

install_service() {
  # Print a systemd unit that starts production at boot; --install writes and enables it (as root)
  install=false
  for arg in "$@"; do
    case "$arg" in
      --install) install=true ;;
      *) _usage_error "unknown option for install-service: $arg" ;;
    esac
  done
  MODE=prod
  _require_docker
  [ -f "$ENV_FILE" ] || _die "no $(_env_file_label): set up production first (README: Deploying)"
  _load_environment
  unit="$(_project).service"
  if [ "$install" = false ]; then
    _systemd_unit
    _say "to install it: sudo sh run.sh install-service --install (writes /etc/systemd/system/$unit)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || _die "--install writes /etc/systemd/system: run it as root (sudo sh run.sh install-service --install)"
  command -v systemctl >/dev/null 2>&1 \
    || _die "systemctl not found: this host does not run systemd; restart: unless-stopped already brings the stack back with Docker"
  _systemd_unit >"/etc/systemd/system/$unit"
  systemctl daemon-reload
  systemctl enable "$unit"
  _say "installed and enabled $unit: production starts at boot (now: systemctl start $unit)"
}

test() {
  # Run the tests on the host against the dev database (ARGS go to pytest; -m e2e: end-to-end suite)
  MODE=dev
  _prepare
  _refuse_mode_switch
  _venv
  _dc up --detach --wait db
  # DEBUG only relaxes the import-time production checks: pytest-django
  # runs the tests themselves with DEBUG off.
  DJANGO_ENV_FILE="$ENV_FILE" DEBUG=true POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$(_env DEV_DB_PORT 5433)" \
    .venv/bin/python -m pytest -c tests/pytest.ini "$@"
}

lint() {
  # Lint everything from the host .venv: ruff, shellcheck, hadolint, compose-lint; any finding fails
  [ "$#" -eq 0 ] || _usage_error "lint takes no arguments"
  _venv
  lint_failed=""
  .venv/bin/ruff check app tests bench || lint_failed="$lint_failed ruff"
  .venv/bin/ruff format --check app tests bench || lint_failed="$lint_failed ruff-format"
  # Every shell script (named *.sh, or with a sh or bash shebang) as POSIX sh
  # unless its shebang asks for bash, and every Dockerfile.
  lint_files="$(find . \( -name .git -o -name .venv -o -name node_modules \) -prune -o -type f -print | sort)"
  while IFS= read -r lint_file; do
    case "$(head -n 1 "$lint_file" 2>/dev/null || true)" in
      '#!/bin/sh'* | '#!/usr/bin/env sh'* | '#!/bin/dash'*) lint_shell="sh" ;;
      '#!/bin/bash'* | '#!/usr/bin/env bash'*) lint_shell="bash" ;;
      *)
        case "$lint_file" in
          *.sh) lint_shell="sh" ;;
          */Dockerfile | */Dockerfile.* | */*.Dockerfile | */Containerfile)
            .venv/bin/hadolint "$lint_file" || lint_failed="$lint_failed hadolint:$lint_file"
            continue
            ;;
          *) continue ;;
        esac
        ;;
    esac
    .venv/bin/shellcheck --shell="$lint_shell" "$lint_file" || lint_failed="$lint_failed shellcheck:$lint_file"
  done <<EOF
$lint_files
EOF
  # The Compose files as shipped (their defaults, not this machine's .env or
  # compose.override.yml): production alone, and development merged as
  # Compose merges it, in one run so that .compose-lint.yml's exclusions are
  # all checked against real services.
  lint_dir="$(mktemp -d)"
  mkdir "$lint_dir/prod" "$lint_dir/dev"
  cp compose.yml "$lint_dir/prod/"
  cp compose.yml compose.dev.yml "$lint_dir/dev/"
  printf 'COMPOSE_FILE=compose.yml:compose.dev.yml\n' >"$lint_dir/dev/.env"
  .venv/bin/compose-lint check --quiet --skip-suppressed --fail-on low --config .compose-lint.yml --strict-config \
    "$lint_dir/prod/compose.yml" "$lint_dir/dev/compose.yml" || lint_failed="$lint_failed compose-lint"
  rm -rf "$lint_dir"
  [ -z "$lint_failed" ] || _die "lint found problems (above) in:$lint_failed"
  _say "lint: no findings"
}

reset() {
  # Delete the DEV database and pgAdmin volumes after you type the project name (production data is never touched)
  [ "$#" -eq 0 ] || _usage_error "reset takes no arguments"
  MODE=dev
  _prepare
  project="$(_project)"
  _say "this deletes the volumes ${project}_db-dev-data and ${project}_pgadmin-dev-data: every row of the dev database."
  printf 'Type the project name (%s) to confirm: ' "$project" >&2
  answer=""
  read -r answer || true
  [ "$answer" = "$project" ] || _die "confirmation did not match; nothing was deleted"
  _dc down --remove-orphans
  docker volume rm "${project}_db-dev-data" "${project}_pgadmin-dev-data" >/dev/null 2>&1 || true
  _say "dev data deleted; sh run.sh -1 starts afresh"
}

bench() {
  # Measure start, rebuild, image size and HTTP speed in a throwaway copy of the stack (bench/README.md; --quick: a short run)
  if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      _die "wrk is not installed: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk), then run sh run.sh bench again"
    fi
    _say "installing wrk with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null \
      || _die "apt-get could not install wrk: install it yourself (apt-get install wrk), then run sh run.sh bench again"
  fi
  _require_docker
  _venv
  .venv/bin/python -m bench "$@"
}

help() {
  # Show this help
  cat <<EOF
Usage: sh run.sh [MODE] [COMMAND [ARGS...]]

Modes (a mode alone starts it; with a COMMAND, the command acts on that mode):
  -0, prod    production: db + gunicorn web (no pgAdmin, no host ports but web)
  -1, dev     development: db + runserver web (autoreload) + pgAdmin
  -2, db      development database + pgAdmin only, for working on the host
  -3, host    -2, then runserver on the host at 127.0.0.1:\${HOST_WEB_PORT:-8001}
Without a mode, commands act on the stack that is running (dev if none is).

Commands:
EOF
  _command_help "$0"
  cat <<EOF

Settings: .env (ENV_FILE=path for another file); every one is documented in
.env.example. Examples:
  sh run.sh -1                 start developing
  sh run.sh test               unit and integration tests
  sh run.sh -0 -s              deploy, then create the superuser
  sh run.sh -0 logs -f web     follow production's web logs
  sh run.sh -0 backup          dump production's database into backups/
  sh run.sh -0 restore FILE    put a backup back (asks first)
  sh run.sh -0 doctor          check this host and .env for production
EOF
}

# ----------------------------------------------------------------- helpers --

_say() {
  printf 'run.sh: %s\n' "$*" >&2
}

_die() {
  printf 'run.sh: %s\n' "$*" >&2
  exit 1
}

_usage_error() {
  printf 'run.sh: %s\n' "$1" >&2
  printf 'Usage: sh run.sh [-0|-1|-2|-3] [COMMAND [ARGS...]]   (sh run.sh help)\n' >&2
  exit 2
}

# Print "name  help" for each command: a function without a leading _ whose
# body starts with a comment line.
_command_help() {
  awk '
    /^[a-z][a-z0-9_]*\(\) \{$/ { name = substr($0, 1, index($0, "(") - 1); gsub(/_/, "-", name); next }
    name != "" && /^  # / { sub(/^  # /, ""); printf "  %-15s  %s\n", name, $0 }
    { name = "" }
  ' "$1"
}

_mode_label() {
  case "$MODE" in
    prod) echo "production" ;;
    dev) echo "development" ;;
    db) echo "dev database" ;;
    host) echo "dev database (web on the host)" ;;
  esac
}

_env_file_label() {
  case "$ENV_FILE" in
    "$PWD"/*) echo "${ENV_FILE#"$PWD"/}" ;;
    *) echo "$ENV_FILE" ;;
  esac
}

_require_docker() {
  command -v docker >/dev/null 2>&1 \
    || _die "docker is not installed: install Docker Engine (https://docs.docker.com/engine/install/)"
  docker compose version >/dev/null 2>&1 \
    || _die "Docker Compose v2 is missing: install the compose plugin so that 'docker compose version' works"
  docker info >/dev/null 2>&1 \
    || _die "the Docker daemon is not reachable: start Docker (e.g. sudo systemctl start docker) or check DOCKER_HOST"
}

# Compose files for MODE, plus this machine's compose.override.yml if any.
_compose_files() {
  files="compose.yml"
  if [ "$MODE" != prod ]; then
    files="$files:compose.dev.yml"
  fi
  if [ -f compose.override.yml ]; then
    files="$files:compose.override.yml"
  fi
  echo "$files"
}

_dc() {
  if [ -f "$ENV_FILE" ]; then
    set -- --env-file "$ENV_FILE" "$@"
  fi
  COMPOSE_FILE="$(_compose_files)" COMPOSE_PATH_SEPARATOR=":" docker compose "$@"
}

# One-off container of SERVICE running ARGS; a terminal only when there is one.
_one_off() {
  if [ -t 0 ] && [ -t 1 ]; then
    _dc run --rm --no-deps "$@"
  else
    _dc run --rm --no-deps -T "$@"
  fi
}

# Value of setting $1 as Compose sees it (default $2).
_env() {
  value="$(printf '%s\n' "$ENVIRONMENT" | sed -n "s/^$1=//p" | tail -n 1)"
  echo "${value:-${2:-}}"
}

_project() {
  _env COMPOSE_PROJECT_NAME
}

# Everything a command needs before it talks to Docker.
_prepare() {
  _require_docker
  _ensure_env_file
  _load_environment
  _export_user_ids
  if [ "$MODE" = prod ]; then
    _check_prod_env
  fi
}

# For commands on a stack that may already run: its mode unless one was given.
_prepare_existing() {
  _require_docker
  if [ "$ENV_FILE_GIVEN" = true ] && [ ! -f "$ENV_FILE" ]; then
    _die "ENV_FILE $ENV_FILE does not exist"
  fi
  MODE="${MODE:-dev}"
  _load_environment
  if [ "$MODE_GIVEN" = false ]; then
    MODE="$(_running_mode)"
    MODE="${MODE:-dev}"
  fi
  _export_user_ids
}

_ensure_env_file() {
  [ -f "$ENV_FILE" ] && return 0
  if [ "$MODE" = prod ]; then
    _die "no $(_env_file_label): copy .env.example to .env and set its production values (README: Deploying)"
  fi
  [ "$ENV_FILE_GIVEN" = false ] || _die "ENV_FILE $ENV_FILE does not exist"
  key="$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | dd bs=64 count=1 2>/dev/null)"
  sed "s/^SECRET_KEY=.*/SECRET_KEY=$key/" .env.example >.env
  _say "created .env from .env.example with a new SECRET_KEY (development values)"
}

# Read the settings through Compose, so that run.sh sees exactly what the
# containers get (and a malformed .env fails here, before anything starts).
_load_environment() {
  if ! ENVIRONMENT="$(_dc config --environment 2>&1)"; then
    _die "$(_settings_error "$(printf '%s\n' "$ENVIRONMENT" | tail -n 1)")"
  fi
  [ -n "$(_project)" ] || _die "Compose reported no project name; set COMPOSE_PROJECT_NAME in $(_env_file_label)"
}

# Compose's complaint about the settings, naming the setting when it can.
_settings_error() {
  case "$1" in
    "invalid hostPort: "*)
      value="${1#invalid hostPort: }"
      name="$(awk -F= -v value="$value" '$1 ~ /PORT$/ && $2 == value { name = $1 } END { print name }' "$ENV_FILE" 2>/dev/null)"
      echo "${name:-a port setting} is not a valid port number or range (1-65535): '$value'"
      ;;
    *) echo "cannot read the settings: $1" ;;
  esac
}

# The web image's user takes the caller's ids (files in the dev bind mount
# stay theirs); root's would make the container run as root, so 1000 instead.
_export_user_ids() {
  if [ -z "$(_env APP_UID)" ]; then
    APP_UID="$(id -u)"
    [ "$APP_UID" != 0 ] || APP_UID=1000
    export APP_UID
  fi
  if [ -z "$(_env APP_GID)" ]; then
    APP_GID="$(id -g)"
    [ "$APP_GID" != 0 ] || APP_GID=1000
    export APP_GID
  fi
}

# Production refuses unsafe settings: one line, nothing started.
_check_prod_env() {
  problem="$(_prod_env_problems | head -n 1)"
  [ -z "$problem" ] || _die "$problem"
}

# Unsafe production settings, one line each, with the fix. The same rules
# as app/config/production_policy.py.
_prod_env_problems() {
  where="$(_env_file_label)"
  problem="$(_secret_key_problem "$(_env SECRET_KEY)")"
  [ -z "$problem" ] \
    || echo "$problem in $where: generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
  [ -n "$(_env ALLOWED_HOSTS | tr -d ' ,')" ] \
    || echo "ALLOWED_HOSTS is empty in $where: list the host names the site answers to, e.g. ALLOWED_HOSTS=example.com"
  if [ -z "$(_env DATABASE_URL)" ] && [ -z "$(_env POSTGRES_PASSWORD_FILE)" ]; then
    password="$(_env POSTGRES_PASSWORD)"
    if [ -z "$password" ]; then
      echo "POSTGRES_PASSWORD is empty in $where: set a strong database password"
    elif [ "$password" = "dev-password-not-for-production" ]; then
      echo "POSTGRES_PASSWORD is the example value in $where: set a strong database password"
    fi
  fi
}

_secret_key_problem() {
  key="$1"
  if [ -z "$key" ]; then
    if [ -n "$(_env SECRET_KEY_FILE)" ]; then
      return 0
    fi
    echo "SECRET_KEY is not set"
    return 0
  fi
  case "$key" in
    django-insecure* | *change-me*) echo "SECRET_KEY is a placeholder value"; return 0 ;;
  esac
  if [ "${#key}" -lt 50 ]; then
    echo "SECRET_KEY is shorter than 50 characters"
  elif [ "$(printf '%s' "$key" | fold -w 1 | sort -u | wc -l)" -lt 5 ]; then
    echo "SECRET_KEY has fewer than 5 distinct characters"
  fi
}

# prod or dev, from the Compose files the project's containers were made
# with; empty when it has none.
_running_mode() {
  files="$(docker ps --all --filter "label=com.docker.compose.project=$(_project)" \
    --format '{{.Label "com.docker.compose.project.config_files"}}' | head -n 1)"
  case "$files" in
    "") ;;
    *compose.dev.yml*) echo dev ;;
    *) echo prod ;;
  esac
}

# Dev and production share the project's containers (not its volumes):
# replacing one by the other must be asked for, not happen by accident.
_refuse_mode_switch() {
  running="$(_running_mode)"
  if [ "$MODE" = prod ] && [ "$running" = dev ]; then
    _die "the development stack is running; stop it first: sh run.sh -1 down"
  fi
  if [ "$MODE" != prod ] && [ "$running" = prod ]; then
    _die "the production stack is running in project $(_project); stop it first (sh run.sh -0 down) or use another COMPOSE_PROJECT_NAME"
  fi
}

# ------------------------------------------------------------------ deploy --

# Development: the one-shot migrate runs inside `up` (migration gate: warn).
_start_dev() {
  since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  set -- up --detach --build --wait --remove-orphans
  case "$MODE" in
    db | host) set -- "$@" db pgadmin migrate ;;
  esac
  if ! _dc "$@"; then
    _up_failed
  fi
  _dc logs --no-log-prefix --since "$since" migrate 2>/dev/null \
    | sed -n '/^WARNING: models have changes/,/commit it with the model change/p' >&2
}

# Production: build, ask the new image what it would migrate, and only then
# touch the database: pending migrations get a backup first, and a failed
# migrate restores it while the previous web containers keep serving.
_deploy() {
  _dc build web || _die "the web image did not build (output above)"
  _dc up --detach --wait db || _up_failed
  state="$(_deploy_state)"
  if [ -n "$state" ] && [ "${state%%|*}" = "${state#*|}" ]; then
    _say "no pending migrations (this image already deployed on this database)"
    _dc up --detach --wait --remove-orphans --no-deps web || _up_failed
    return 0
  fi
  status=0
  plan="$(_dc run --rm --no-deps -T migrate plan)" || status="$?"
  case "$status" in
    0) _say "no pending migrations" ;;
    10) _migrate_with_backup "$plan" ;;
    11) _die "deploy refused by the migration gate (above); nothing was changed" ;;
    *) _die "could not read the migration plan (exit $status, output above); nothing was changed" ;;
  esac
  _dc up --detach --wait --remove-orphans --no-deps web || _up_failed
  _record_deploy
}

# What decides the migration plan is the image (code and migrations) and the
# migrations the database has applied: "STAMP|RECORDED", where RECORDED is
# the stamp of the last deploy that passed the plan, kept as the database's
# comment (a restored or recreated database has none, so it is planned
# anew). Empty when either is unknown.
_deploy_state() {
  image="$(docker image inspect --format '{{.Id}}' "$(_project)-web:latest" 2>/dev/null)" || return 0
  _db_sql "$(_db_name)" "SELECT 'deployed $image with migrations '
    || (SELECT count(*) || ':' || coalesce(max(id), 0) FROM django_migrations)
    || '|' || coalesce(shobj_description(oid, 'pg_database'), '')
    FROM pg_database WHERE datname = current_database()" 2>/dev/null || true
}

_record_deploy() {
  state="$(_deploy_state)"
  [ -n "$state" ] || return 0
  _db_sql "$(_db_name)" "COMMENT ON DATABASE \"$(_db_name)\" IS '${state%%|*}'" >/dev/null || true
}

_migrate_with_backup() {
  _say "pending migrations: $(printf '%s' "$1" | tr '\n' ' ')"
  if [ -n "$(_env DATABASE_URL)" ]; then
    _say "DATABASE_URL points at a database outside this stack: no automatic backup before migrating"
    _dc run --rm --no-deps -T migrate migrate || _die "migrate failed (above); restore that database with its own tools"
    return 0
  fi
  pre_migrate="$(_backup pre-migrate)"
  started="$(date +%s)"
  if _dc run --rm --no-deps -T migrate migrate; then
    _say "migrated in $(($(date +%s) - started)) s"
    return 0
  fi
  _rollback_migration "$pre_migrate"
}

# A migrate failed: keep what it left in a backup, put the pre-migrate
# backup back, and say all of it in one paragraph.
_rollback_migration() {
  at_failure="$(_backup failed-migrate 2>/dev/null)" || at_failure="(could not be saved)"
  if ! _restore_database "$1"; then
    _say "DEPLOY FAILED: a migration failed and the automatic restore failed too. The database is as the failed migration left it. Restore it yourself: sh run.sh -0 restore $1"
    exit 1
  fi
  if [ -n "$(_dc ps --status running --quiet web)" ]; then
    web="the previous web containers kept serving"
    _wait_ready || web="the previous web containers are NOT ready: see sh run.sh logs web"
  else
    web="no web container was running before this deploy, none was started"
  fi
  _say "DEPLOY FAILED: a migration failed (its error is above), so nothing was deployed. The database was restored from the backup taken just before migrating, $1, and $web. The database as the failed migration left it is in $at_failure. Fix the migration, then deploy again with sh run.sh -0."
  exit 1
}

# Poll the running web's readiness probe (it queries the database).
_wait_ready() {
  attempt=0
  while [ "$attempt" -lt 30 ]; do
    if _dc exec -T web python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)" >/dev/null 2>&1; then
      return 0
    fi
    attempt=$((attempt + 1))
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- database --

_db_name() {
  _env POSTGRES_DB app
}

_db_user() {
  _env POSTGRES_USER app
}

# prod or dev: whose volume MODE's database lives on.
_data_mode() {
  if [ "$MODE" = prod ]; then echo prod; else echo dev; fi
}

# Backups, restores and psql work on this stack's db service.
_require_stack_db() {
  [ -z "$(_env DATABASE_URL)" ] \
    || _die "$1 works on this stack's db service, but DATABASE_URL points elsewhere: use that database's own tools"
}

# Start MODE's db (nothing else) and wait for it to be healthy.
_start_db() {
  _refuse_mode_switch
  if ! output="$(_dc up --detach --wait db 2>&1)"; then
    printf '%s\n' "$output" >&2
    _die "the database did not start (above; sh run.sh logs db)"
  fi
}

# SQL statements, each in its own transaction, in database $1.
_db_sql() {
  database="$1"
  shift
  for statement in "$@"; do
    set -- "$@" -c "$statement"
    shift
  done
  _dc exec -T -e PGOPTIONS="-c client_min_messages=warning" db \
    psql -U "$(_db_user)" -d "$database" -v ON_ERROR_STOP=1 -tAq "$@"
}

_db_exists() {
  [ "$(_db_sql postgres "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

# "N tables, M rows" of database $1.
_db_summary() {
  _db_sql "$1" "SELECT count(*) || ' tables, ' || coalesce(sum((xpath('/row/n/text()',
    query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), 0)
    || ' rows' FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
}

_backup_dir() {
  dir="$(_env BACKUP_DIR ./backups)"
  case "$dir" in
    /*) echo "$dir" ;;
    *) echo "$PWD/${dir#./}" ;;
  esac
}

_backup_dir_label() {
  _env BACKUP_DIR ./backups
}

# pg_dump MODE's database into BACKUP_DIR; the file's path on stdout. The
# dump is one snapshot (consistent while web keeps writing); a partial file
# never carries a backup's name.
_backup() {
  label="${1:-}"
  dir="$(_backup_dir)"
  db="$(_db_name)"
  keep="$(_env BACKUP_KEEP 10)"
  case "$keep" in
    "" | *[!0-9]*) _die "BACKUP_KEEP must be a whole number (0 keeps every backup); it is '$keep'" ;;
  esac
  mkdir -p "$dir" || _die "cannot create BACKUP_DIR $dir: check the path and its permissions"
  # One backup per second at most, so that names sort in time order.
  while file="$dir/$(_data_mode)-$db-$(date -u +%Y%m%dT%H%M%SZ)${label:+-$label}.dump" && [ -e "$file" ]; do
    sleep 1
  done
  started="$(date +%s)"
  if ! (umask 077 && _dc exec -T db pg_dump -U "$(_db_user)" -d "$db" --format=custom >"$file.partial"); then
    rm -f "$file.partial"
    _die "pg_dump of $db failed (above); no backup was written"
  fi
  mv "$file.partial" "$file"
  _say "backup: $file ($(du -h "$file" | cut -f1), $(($(date +%s) - started)) s)"
  _prune_backups "$dir" "$(_data_mode)-$db-" "$keep"
  echo "$file"
}

# Keep the newest $3 backups whose names start with $2 (names sort by time).
_prune_backups() {
  [ "$3" -gt 0 ] || return 0
  for backup_file in "$1/$2"[0-9]*T[0-9]*Z*.dump; do
    [ -f "$backup_file" ] && printf '%s\n' "$backup_file"
  done | sort -r | tail -n "+$(($3 + 1))" | while IFS= read -r old; do
    rm -f "$old"
    _say "removed old backup $old (BACKUP_KEEP=$3)"
  done
}

# A pg_dump custom-format archive, or nothing is done.
_check_archive() {
  _dc exec -T db pg_restore --list <"$1" >/dev/null 2>&1 \
    || _die "$1 is not a pg_dump custom-format archive (pg_restore --list rejects it); the database was not touched"
}

# Restore archive $1 into a new database, check it, then swap it in for
# MODE's database. Until the swap the database is untouched.
_restore_database() {
  db="$(_db_name)"
  fresh="${db}__restoring"
  old="${db}__replaced"
  _db_sql postgres "DROP DATABASE IF EXISTS \"$fresh\" WITH (FORCE)" "CREATE DATABASE \"$fresh\"" || return 1
  if ! _dc exec -T db pg_restore -U "$(_db_user)" -d "$fresh" --no-owner --single-transaction --exit-on-error <"$1"; then
    _db_sql postgres "DROP DATABASE IF EXISTS \"$fresh\" WITH (FORCE)" || true
    return 1
  fi
  expected="$(_dc exec -T db pg_restore --list <"$1" | grep -c '^[0-9]*; [0-9]* [0-9]* TABLE [^D]' || true)"
  restored="$(_db_sql "$fresh" "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
  if [ "$expected" != "$restored" ]; then
    _say "the restored copy has $restored tables where the archive lists $expected"
    _db_sql postgres "DROP DATABASE IF EXISTS \"$fresh\" WITH (FORCE)" || true
    return 1
  fi
  if _db_exists "$db"; then
    _db_sql postgres "ALTER DATABASE \"$db\" ALLOW_CONNECTIONS false" || return 1
    _rename_database "$db" "$old" || return 1
  fi
  _rename_database "$fresh" "$db" || return 1
  _db_sql postgres "DROP DATABASE IF EXISTS \"$old\" WITH (FORCE)" || true
}

# Renaming needs the database's sessions gone: end them, retry briefly.
_rename_database() {
  attempt=0
  while ! _db_sql postgres \
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()" \
    "ALTER DATABASE \"$1\" RENAME TO \"$2\"" >/dev/null 2>&1; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 50 ]; then
      _say "database $1 stayed in use for 10 s; it was not renamed"
      return 1
    fi
    sleep 0.2
  done
}

# ------------------------------------------------------------------ checks --

# Published ports of MODE, as "NAME=VALUE" lines.
_mode_ports() {
  case "$MODE" in
    prod) echo "WEB_PORT=$(_env WEB_PORT 8000)" ;;
    dev) printf '%s\n' "WEB_PORT=$(_env WEB_PORT 8000)" "DEV_DB_PORT=$(_env DEV_DB_PORT 5433)" "PGADMIN_PORT=$(_env PGADMIN_PORT 5050)" ;;
    db) printf '%s\n' "DEV_DB_PORT=$(_env DEV_DB_PORT 5433)" "PGADMIN_PORT=$(_env PGADMIN_PORT 5050)" ;;
    host) printf '%s\n' "DEV_DB_PORT=$(_env DEV_DB_PORT 5433)" "PGADMIN_PORT=$(_env PGADMIN_PORT 5050)" "HOST_WEB_PORT=$(_env HOST_WEB_PORT 8001)" ;;
  esac
}

# One line for the first port setting that is malformed or taken by
# another program; nothing when all are usable.
_port_problem() {
  ours="$(docker ps --filter "label=com.docker.compose.project=$(_project)" --format '{{.Ports}}' 2>/dev/null || true)"
  for setting in $(_mode_ports); do
    name="${setting%%=*}"
    value="${setting#*=}"
    first="${value%%-*}"
    last="${value##*-}"
    case "$first$last" in
      "" | *[!0-9]*) continue ;; # Compose has refused it already
    esac
    port="$first"
    while [ "$port" -le "$last" ]; do
      case "$ours" in
        *":$port->"*) ;;
        *)
          if _port_listening "$port"; then
            echo "port $port ($name) is already in use by another program: stop it, or set $name in $(_env_file_label) to a free port"
            return 0
          fi
          ;;
      esac
      port=$((port + 1))
    done
  done
}

_check_ports() {
  problem="$(_port_problem)"
  [ -z "$problem" ] || _die "$problem"
}

_port_listening() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
  elif command -v lsof >/dev/null 2>&1; then
    lsof -nP -iTCP:"$1" -sTCP:LISTEN >/dev/null 2>&1
  else
    return 1
  fi
}

# Files whose CR line endings break a shell, Compose or Docker.
_crlf_files() {
  cr="$(printf '\r')"
  for file in run.sh entrypoint.sh compose.yml compose.dev.yml docker/Dockerfile docker/gunicorn.conf.py "$ENV_FILE"; do
    if [ -f "$file" ] && grep -q "$cr" "$file"; then
      case "$file" in
        "$PWD"/*) echo "${file#"$PWD"/}" ;;
        *) echo "$file" ;;
      esac
    fi
  done
}

# ------------------------------------------------------------------ doctor --

DOCTOR_PROBLEMS=0

_ok() {
  printf '✓ %s\n' "$*"
}

_bad() {
  printf '✗ %s\n' "$*"
  DOCTOR_PROBLEMS=$((DOCTOR_PROBLEMS + 1))
}

_skip() {
  printf -- '- %s\n' "$*"
}

_doctor() {
  MODE="${MODE:-dev}"
  if ! command -v docker >/dev/null 2>&1; then
    _bad "Docker: not installed; install Docker Engine (https://docs.docker.com/engine/install/)"
  elif ! docker info >/dev/null 2>&1; then
    _bad "Docker engine: not reachable; start it (sudo systemctl start docker) or check DOCKER_HOST"
  else
    _ok "Docker engine reachable ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  fi
  compose="$(docker compose version --short 2>/dev/null || true)"
  if [ -z "$compose" ]; then
    _bad "Docker Compose v2: missing; install the compose plugin (docker compose version must work)"
  elif _version_at_least "${compose#v}" 2.24.4; then
    _ok "Docker Compose $compose (2.24.4 or newer)"
  else
    _bad "Docker Compose $compose is older than 2.24.4 (compose.dev.yml uses !override): update the compose plugin"
  fi
  crlf="$(_crlf_files | tr '\n' ' ')"
  if [ -n "$crlf" ]; then
    _bad "CRLF line endings in: ${crlf% }; convert them: sed -i 's/\\r\$//' FILE (and git config core.autocrlf input)"
  else
    _ok "line endings: LF in the scripts, Compose files and settings"
  fi
  if [ ! -f "$ENV_FILE" ]; then
    _bad "$(_env_file_label): missing; create it: cp .env.example .env (sh run.sh -1 does that for development)"
    _doctor_end
  fi
  missing="$(_missing_settings | tr '\n' ' ')"
  if [ -n "$missing" ]; then
    _bad "$(_env_file_label) lacks ${missing% }; copy those lines from .env.example"
  else
    _ok "$(_env_file_label) has every setting of .env.example"
  fi
  if [ "$DOCTOR_PROBLEMS" -gt 0 ] && ! docker info >/dev/null 2>&1; then
    _doctor_end
  fi
  if ! ENVIRONMENT="$(_dc config --environment 2>&1)"; then
    _bad "$(_env_file_label): $(_settings_error "$(printf '%s\n' "$ENVIRONMENT" | tail -n 1)")"
    _doctor_end
  fi
  _export_user_ids
  if [ "$MODE_GIVEN" = false ]; then
    MODE="$(_running_mode 2>/dev/null || true)"
    MODE="${MODE:-dev}"
  fi
  _say "checking the $(_mode_label) setup (project $(_project))"
  if [ "$MODE" = prod ]; then
    problems="$(_prod_env_problems)"
    if [ -n "$problems" ]; then
      _bad "production settings: $(printf '%s\n' "$problems" | head -n 1)"
    else
      _ok "production settings: SECRET_KEY, ALLOWED_HOSTS and the database password are safe"
    fi
  else
    _skip "production settings: not checked in $MODE mode (sh run.sh -0 doctor checks them)"
  fi
  problem="$(_port_problem)"
  if [ -n "$problem" ]; then
    _bad "$problem"
  else
    _ok "ports free (or this stack's): $(_mode_ports | tr '\n' ' ' | sed 's/ $//')"
  fi
  volume="$(_project)_db-$(_data_mode)-data"
  if docker volume inspect "$volume" >/dev/null 2>&1; then
    _ok "volume $volume present"
    _doctor_password
  else
    _skip "volume $volume: not created yet (the first start creates it)"
  fi
  _doctor_disk
  _doctor_end
}

_doctor_end() {
  if [ "$DOCTOR_PROBLEMS" -gt 0 ]; then
    _say "doctor: $DOCTOR_PROBLEMS problem(s), each with its fix above"
    exit 1
  fi
  _say "doctor: no problems found"
  exit 0
}

# The stale-volume trap: Postgres keeps the password the volume was first
# initialised with; a later POSTGRES_PASSWORD in .env does not change it.
_doctor_password() {
  if [ -n "$(_env DATABASE_URL)" ] || [ -n "$(_env POSTGRES_PASSWORD_FILE)" ]; then
    _skip "database password: set by DATABASE_URL or POSTGRES_PASSWORD_FILE, not checked"
    return 0
  fi
  if [ -z "$(_dc ps --status running --quiet db 2>/dev/null)" ]; then
    _skip "database password: db is not running, not checked (start it: sh run.sh -2 or -0)"
    return 0
  fi
  # Over TCP to the service name: the same authentication web goes through.
  if output="$(_dc exec -T -e PGPASSWORD="$(_env POSTGRES_PASSWORD)" db \
    psql -h db -U "$(_db_user)" -d "$(_db_name)" -tAc 'SELECT 1' 2>&1)"; then
    _ok "database password in $(_env_file_label) opens the database"
  else
    case "$output" in
      *"password authentication failed"*)
        _bad "database password: the volume was initialised with another POSTGRES_PASSWORD than $(_env_file_label) has (stale volume); put the old password back, or change it in the database (sh run.sh psql -c \"ALTER USER $(_db_user) PASSWORD '...'\"), or in dev delete the data: sh run.sh reset" ;;
      *) _bad "database password: cannot log in: $(printf '%s\n' "$output" | tail -n 1)" ;;
    esac
  fi
}

_doctor_disk() {
  dir="$(_backup_dir)"
  probe="$dir"
  while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
  free_kb="$(df -Pk "$probe" | awk 'NR == 2 { print $4 }')"
  need_kb=1048576
  size=""
  if [ -n "$(_dc ps --status running --quiet db 2>/dev/null)" ] && [ -z "$(_env DATABASE_URL)" ]; then
    size_kb="$(_db_sql postgres "SELECT pg_database_size('$(_db_name)') / 1024" 2>/dev/null || echo 0)"
    need_kb=$((need_kb + 2 * size_kb))
    size=", database $((size_kb / 1024)) MB"
  fi
  if [ "$free_kb" -ge "$need_kb" ]; then
    _ok "disk: $((free_kb / 1024)) MB free for backups in $(_backup_dir_label)$size"
  else
    _bad "disk: only $((free_kb / 1024)) MB free in $(_backup_dir_label)$size; free space or point BACKUP_DIR elsewhere"
  fi
}

# Settings that .env.example has and the env file lacks.
_missing_settings() {
  sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' .env.example | while IFS= read -r name; do
    grep -q "^$name=" "$ENV_FILE" || echo "$name"
  done
}

# Is version $1 at least $2? (dotted numbers)
_version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -t. -k1,1n -k2,2n -k3,3n | head -n 1)" = "$2" ]
}

# ---------------------------------------------------------------- services --

_systemd_unit() {
  env_line=""
  if [ "$ENV_FILE_GIVEN" = true ]; then
    env_line="Environment=ENV_FILE=$ENV_FILE"
  fi
  cat <<UNIT
# Written by sh run.sh install-service: production stack $(_project) at boot.
[Unit]
Description=Django stack $(_project) (production, run.sh -0)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=$PWD
$env_line
ExecStart=/bin/sh $PWD/run.sh -0
ExecStop=/bin/sh $PWD/run.sh -0 down
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
UNIT
}

_up_failed() {
  _say "the $(_mode_label) stack did not become healthy; last lines of the migrate and web logs:"
  logs="$(_dc logs --no-log-prefix --tail 15 migrate web 2>/dev/null || true)"
  printf '%s\n' "$logs" >&2
  case "$logs" in
    *"password authentication failed"*)
      _say "the database volume was initialised with another POSTGRES_PASSWORD than $(_env_file_label) has: put the old one back, or in dev start afresh with sh run.sh reset (sh run.sh doctor explains)" ;;
  esac
  _die "start failed (full logs: sh run.sh logs; status: sh run.sh ps)"
}

_print_urls() {
  if [ "$MODE" = dev ]; then
    _say "web:      http://localhost:$(_env WEB_PORT 8000)/  (admin: /admin/)"
  elif [ "$(_env SECURE_SSL_REDIRECT true)" = false ]; then
    _say "web:      http://localhost:$(_env WEB_PORT 8000)/ on $(_env WEB_BIND_ADDRESS 127.0.0.1)  (admin: /admin/)"
  else
    _say "web:      $(_env WEB_BIND_ADDRESS 127.0.0.1):$(_env WEB_PORT 8000) for your TLS proxy; plain HTTP is redirected to https:// (README: HTTPS)"
  fi
  if [ "$MODE" != prod ]; then
    _say "pgAdmin:  http://localhost:$(_env PGADMIN_PORT 5050)/  (login $(_env PGADMIN_DEFAULT_EMAIL admin@example.org))"
    _say "database: 127.0.0.1:$(_env DEV_DB_PORT 5433)  ($(_env POSTGRES_USER app)@$(_env POSTGRES_DB app))"
  fi
}

# The host's .venv, created or updated when the requirements change.
_venv() {
  command -v python3 >/dev/null 2>&1 || _die "python3 is not installed: the host-side tests need Python 3.11 or newer"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || _die "Python 3.11 or newer is needed on the host; python3 is $(python3 -V 2>&1)"
  stamp="$(cat app/requirements.txt tests/requirements.txt | cksum)"
  if [ ! -x .venv/bin/python ]; then
    _say "creating .venv"
    python3 -m venv .venv || _die "python3 -m venv failed: install your Python's venv package (e.g. python3-venv)"
  fi
  if [ "$(cat .venv/requirements.stamp 2>/dev/null || true)" != "$stamp" ]; then
    _say "installing the test requirements into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    printf '%s\n' "$stamp" >.venv/requirements.stamp
  fi
}

_run_on_host() {
  _venv
  port="$(_env HOST_WEB_PORT 8001)"
  _say "runserver on the host: http://127.0.0.1:$port/ (Ctrl-C stops it; the containers keep running)"
  # CONN_MAX_AGE=0 as in compose.dev.yml: runserver's thread per connection
  # would otherwise keep a database connection each.
  DJANGO_ENV_FILE="$ENV_FILE" DEBUG=true CONN_MAX_AGE=0 POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$(_env DEV_DB_PORT 5433)" \
    exec .venv/bin/python app/manage.py runserver "127.0.0.1:$port"
}

# ---------------------------------------------------------------- dispatch --

_main() {
  case "${1:-}" in
    -0 | prod) MODE=prod ;;
    -1 | dev) MODE=dev ;;
    -2 | db) MODE=db ;;
    -3 | host) MODE=host ;;
  esac
  if [ -n "$MODE" ]; then
    MODE_GIVEN=true
    shift
    case "${1:-}" in
      "" | -*) set -- up "$@" ;;
    esac
  elif [ "$#" -eq 0 ]; then
    help
    return 0
  fi
  command="$1"
  shift
  case "$command" in
    up)
      MODE="${MODE:-dev}"
      up "$@"
      ;;
    down | logs | ps | manage | superuser | shell | psql | backup | restore | doctor | test | lint | reset | bench)
      "$command" "$@"
      ;;
    install-service) install_service "$@" ;;
    status) ps "$@" ;;
    help | -h | --help) help ;;
    *) _usage_error "unknown mode or command: $command" ;;
  esac
}

_main "$@"
