import uuid

import pytest


@pytest.fixture(autouse=True)
def private_cache(settings):
    """Each test its own empty cache: dashboard panels are cached for a minute."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"reports-{uuid.uuid4()}",
        }
    }
