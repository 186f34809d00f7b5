#!/bin/sh
# run.sh: one entry point for the Django + PostgreSQL (+ pgAdmin) stack.
#
#   sh run.sh [MODE] [COMMAND [ARGS...]]
#
# POSIX sh (it runs under dash). `sh run.sh help` lists modes and commands;
# the help text of each command is the first comment line of its function.
set -eu

# ENV_FILE may name another settings file, relative to where run.sh was called.
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
  # Start MODE (default -1): build, wait for health, migrate, print URLs; -s also creates the superuser
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -s | --superuser) CREATE_SUPERUSER=true ;;
      *) _usage_error "unknown option for $MODE: $1" ;;
    esac
    shift
  done
  _prepare
  _refuse_mode_switch
  set -- up --detach --build --wait --remove-orphans
  case "$MODE" in
    db | host) set -- "$@" db pgadmin migrate ;;
  esac
  _say "starting the $(_mode_label) stack (project $(_project))"
  if ! _dc "$@"; then
    _up_failed
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
  _dc up --detach --wait db
  _one_off web manage "$@"
}

superuser() {
  # Create the DJANGO_SUPERUSER_* superuser unless it exists (asks for a password in a terminal)
  [ "$#" -eq 0 ] || _usage_error "superuser takes no arguments; set DJANGO_SUPERUSER_* in $(_env_file_label)"
  _prepare_existing
  _dc up --detach --wait db
  _one_off migrate superuser
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
  .venv/bin/ruff check app tests || lint_failed="$lint_failed ruff"
  .venv/bin/ruff format --check app tests || lint_failed="$lint_failed ruff-format"
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
    /^[a-z][a-z0-9]*\(\) \{$/ { name = substr($0, 1, index($0, "(") - 1); next }
    name != "" && /^  # / { sub(/^  # /, ""); printf "  %-10s  %s\n", name, $0 }
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
    _die "cannot read the settings: $(printf '%s\n' "$ENVIRONMENT" | tail -n 1)"
  fi
  [ -n "$(_project)" ] || _die "Compose reported no project name; set COMPOSE_PROJECT_NAME in $(_env_file_label)"
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

# Production refuses unsafe settings: one line each, nothing started.
# The same rules as app/config/production_policy.py.
_check_prod_env() {
  where="$(_env_file_label)"
  problem="$(_secret_key_problem "$(_env SECRET_KEY)")"
  [ -z "$problem" ] \
    || _die "$problem in $where: generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
  [ -n "$(_env ALLOWED_HOSTS | tr -d ' ,')" ] \
    || _die "ALLOWED_HOSTS is empty in $where: list the host names the site answers to, e.g. ALLOWED_HOSTS=example.com"
  if [ -z "$(_env DATABASE_URL)" ] && [ -z "$(_env POSTGRES_PASSWORD_FILE)" ]; then
    password="$(_env POSTGRES_PASSWORD)"
    [ -n "$password" ] || _die "POSTGRES_PASSWORD is empty in $where: set a strong database password"
    [ "$password" != "dev-password-not-for-production" ] \
      || _die "POSTGRES_PASSWORD is the example value in $where: set a strong database password"
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

_up_failed() {
  _say "the $(_mode_label) stack did not become healthy; last lines of the migrate and web logs:"
  _dc logs --no-log-prefix --tail 15 migrate >&2 2>/dev/null || true
  _dc logs --no-log-prefix --tail 15 web >&2 2>/dev/null || true
  _die "start failed (full logs: sh run.sh logs; status: sh run.sh ps)"
}

_print_urls() {
  if [ "$MODE" = prod ] || [ "$MODE" = dev ]; then
    _say "web:      http://localhost:$(_env WEB_PORT 8000)/  (admin: /admin/)"
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
  DJANGO_ENV_FILE="$ENV_FILE" DEBUG=true POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$(_env DEV_DB_PORT 5433)" \
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
    down | logs | ps | manage | superuser | test | lint | reset) "$command" "$@" ;;
    status) ps "$@" ;;
    help | -h | --help) help ;;
    *) _usage_error "unknown mode or command: $command" ;;
  esac
}

_main "$@"
