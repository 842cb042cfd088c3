import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
application = get_wsgi_application()

# Import the URLconf (and with it every view module) now, not on the first request: with
# gunicorn --preload this happens once in the master and the forked workers share it, and a
# worker's first request after a deploy or restart does not pay half a second of imports.
from django.urls import get_resolver  # noqa: E402

_urlpatterns = get_resolver().url_patterns
