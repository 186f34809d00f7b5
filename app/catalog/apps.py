from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """The example app: a model with an admin and a JSON endpoint."""

    name = "catalog"
