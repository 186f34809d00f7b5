from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Operational pieces: health endpoints and management commands."""

    name = "core"
