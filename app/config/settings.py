"""Django settings, read once from the environment.

Every variable is documented in .env.example. In containers Compose passes
the environment; on the host (tests, ``sh run.sh -3``) the repository's
``.env`` fills in whatever the environment does not set. ``*_FILE``
variants (Docker secrets) work for every value read through ``env``.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from config import env_values, storage, tasks
from config.production_policy import production_problems

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()
_dotenv = Path(os.environ.get("DJANGO_ENV_FILE", BASE_DIR.parent / ".env"))
if _dotenv.is_file():
    env.read_env(_dotenv)  # never overrides a variable already set

DEBUG = env.bool("DEBUG", default=False)
# Values from *_FILE files lose their trailing newline, as the postgres
# image's entrypoint does with POSTGRES_PASSWORD_FILE: both sides agree.
SECRET_KEY = env.str("SECRET_KEY", default="").rstrip("\r\n")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

_database_url = env.str("DATABASE_URL", default="")
if _database_url:
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env.str("POSTGRES_DB", default="app"),
            "USER": env.str("POSTGRES_USER", default="app"),
            "PASSWORD": env.str("POSTGRES_PASSWORD", default="").rstrip("\r\n"),
            "HOST": env.str("POSTGRES_HOST", default="localhost"),
            "PORT": env_values.whole_number(env, "POSTGRES_PORT", default=5432, minimum=1),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = env_values.whole_number(env, "CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if DEBUG:
    SECRET_KEY = SECRET_KEY or get_random_secret_key()
else:
    # A DATABASE_URL database is not this stack's: its password is its own.
    _problems = production_problems(
        secret_key=SECRET_KEY,
        allowed_hosts=ALLOWED_HOSTS,
        db_password=None if _database_url else DATABASES["default"]["PASSWORD"],
    )
    if _problems:
        _reasons = "; ".join(problem.reason for problem in _problems)
        raise ImproperlyConfigured(f"{_reasons} (with DEBUG off; see .env.example)")

# HTTPS. Production's clients come through the stack's proxy (Caddy), which
# terminates TLS and sets X-Forwarded-Proto on every request, and web is
# reachable through it alone: so the header is trusted and each protection
# is on unless .env turns it off, and `manage.py check --deploy` is clean
# with these defaults. Development (DEBUG) is plain-HTTP runserver: there
# they default to off. Health probes are answered by the first middleware,
# before SecurityMiddleware could redirect them.
# https://docs.djangoproject.com/en/5.2/topics/security/#ssl-https
_HTTPS = not DEBUG
SECURE_PROXY_SSL_HEADER = env_values.proxy_ssl_header(
    env, "SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto" if _HTTPS else ""
)
SECURE_SSL_REDIRECT = env_values.boolean(env, "SECURE_SSL_REDIRECT", default=_HTTPS)
SECURE_HSTS_SECONDS = env_values.whole_number(
    env, "SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if _HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_values.boolean(
    env, "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS
)
SECURE_HSTS_PRELOAD = env_values.boolean(env, "SECURE_HSTS_PRELOAD", default=_HTTPS)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_values.boolean(
    env, "SECURE_COOKIES", default=_HTTPS
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The tasks backend: its queue, results and schedules are tables here.
    "django_ox",
    "core",
    "catalog",
]

MIDDLEWARE = [
    "core.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Static files: collected into the image at build time, served by WhiteNoise
# with hashed, compressed names (https://whitenoise.readthedocs.io/).
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploads (Django's default storage). In the image MEDIA_ROOT is /srv/media,
# where Compose mounts the mode's media volume (media-prod-data or
# media-dev-data; the image owns the empty directory, so a fresh volume comes
# up writable by its user). On the host (tests, `sh run.sh -3`) it is .media/
# beside app/: never inside the source tree, nor in the build context. The
# proxy serves MEDIA_URL in production (docker/caddy/Caddyfile), runserver in
# development (config/urls.py).
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR.parent / ".media")
# An upload over 2.5 MB (FILE_UPLOAD_MAX_MEMORY_SIZE) is spooled to a file
# until it is saved. In the image that is /srv/media/.uploads, on the media
# volume (hidden: never served or archived): /tmp is 64 MB of memory, which
# a large upload would fill, and saving to MEDIA_ROOT is then a rename.
# manage.py check_storage creates it on a volume made before it existed.
# Empty (the host): the system's temporary folder.
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None
STORAGES = {
    "default": storage.default_storage(env),  # STORAGE_BACKEND: config/storage.py
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background tasks (config/tasks.py): enqueued here, run by the worker
# service (`manage.py ox_worker`), retried with backoff, scheduled in code.
TASKS = tasks.tasks_setting(env)
TASK_RESULTS_KEEP_DAYS = tasks.results_keep_days(env)
# E-mail: EMAIL_URL (SMTP in production; development's mail catcher,
# compose.dev.yml; the tests' in-memory outbox, set by Django's test runner).
globals().update(tasks.email_settings(env))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # ox_worker adds a handler of its own to a logger that has none: each
    # line would be printed twice.
    "loggers": {"django_ox": {"handlers": ["console"], "propagate": False}},
}
