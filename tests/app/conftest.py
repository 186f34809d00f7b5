import pytest


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Templates need no collectstatic manifest in tests (DEBUG is off)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
