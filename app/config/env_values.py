"""Strict readers for settings whose silent misreading would weaken the site.

django-environ reads the raw value (and its ``*_FILE`` variant); these
functions refuse anything they cannot read exactly, with the variable's name.
``env.bool`` alone would take ``SECURE_SSL_REDIRECT=ture`` as false, quietly
turning a protection off. An empty or unset variable means ``default``.
"""

import re

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
HEADER_NAME = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")


def _raw(env: environ.Env, name: str) -> str:
    return env.str(name, default="").strip()


def _refuse(name: str, expected: str, raw: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name} must be {expected}, got {raw!r} (see .env.example)")


def boolean(env: environ.Env, name: str, default: bool) -> bool:
    """true/yes/on/1 or false/no/off/0, in any case."""
    raw = _raw(env, name)
    if not raw:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise _refuse(name, "true or false", raw)


def whole_number(env: environ.Env, name: str, default: int, minimum: int = 0) -> int:
    """A whole number of at least ``minimum``."""
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _refuse(name, f"a whole number of at least {minimum}", raw) from None
    if value < minimum:
        raise _refuse(name, f"a whole number of at least {minimum}", raw)
    return value


def proxy_ssl_header(env: environ.Env, name: str, default: str = "") -> tuple[str, str] | None:
    """Django's SECURE_PROXY_SSL_HEADER from a header name such as
    X-Forwarded-Proto: a request is HTTPS when that header says ``https``.
    Empty: ``default``; "none": no header is trusted."""
    raw = _raw(env, name) or default
    if not raw or raw.lower() == "none":
        return None
    if not HEADER_NAME.fullmatch(raw):
        raise _refuse(name, "an HTTP header name such as X-Forwarded-Proto", raw)
    return ("HTTP_" + raw.upper().replace("-", "_"), "https")
