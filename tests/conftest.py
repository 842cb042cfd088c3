"""Suite-wide fixtures: personas (healthchecks' alice/bob style) and the real services.

The suite runs on the real PostgreSQL and Redis named by DATABASE_URL and
REDIS_URL (.ci/services starts them). It refuses to run silently on SQLite:
set WEBCARE_TEST_SQLITE=1 to run on SQLite on purpose, for a quick local run.
"""

import os
from datetime import time

import pytest

from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    DepartmentFactory,
    UserFactory,
)

# The local IMAP and SMTP servers, started only for a test that asks for them.
pytest_plugins = ["tests.inbox.channels.mailservers"]


def pytest_configure(config):
    if os.environ.get("WEBCARE_TEST_SQLITE") == "1":
        if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            raise pytest.UsageError("WEBCARE_TEST_SQLITE=1 with a PostgreSQL DATABASE_URL")
        return
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not set: the suite runs on real PostgreSQL and Redis "
            "(run it through `bash .ci/run`, or `source .ci/services` first). "
            "Set WEBCARE_TEST_SQLITE=1 to run on SQLite on purpose."
        )
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("DATABASE_URL must point at PostgreSQL for the test suite")
    import redis

    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(f"Redis at REDIS_URL is unreachable: {exc}") from exc


def test_database_url() -> str:
    """The test database as a DATABASE_URL, for a worker or script the test starts in another
    process (the rows a transactional test commits are there, not in DATABASE_URL's)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def pytest_collection_modifyitems(config, items):
    """`postgres` tests (plans, PostgreSQL's own fast paths and faults) and `redis` tests
    (a Redis broker or cache) skip, saying why, on the SQLite leg: the embedded default has
    neither server. Everything else runs on both legs."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip_pg = pytest.mark.skip(reason="PostgreSQL-specific (this leg runs on SQLite)")
    skip_redis = pytest.mark.skip(
        reason="needs Redis (this leg runs without, as the embedded default)"
    )
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def english_by_default(settings):
    """Tests read English labels unless they switch language themselves (the product default is nl)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def fresh_reference_cache():
    """No test sees another test's teams or FAQ sets (webcare.refcache is per process)."""
    from webcare import refcache

    refcache.clear()
    yield
    refcache.clear()


@pytest.fixture(autouse=True)
def fresh_file_cache(settings):
    """On the embedded default (no Redis) the cache is files under WEBCARE_VAR_DIR, and on
    SQLite every test's rows get the same ids again: a key one test cached (a webhook
    signature seen, a throttle) must not answer for the next. Redis keys carry ids that
    PostgreSQL never hands out twice."""
    from django.core.cache import cache

    if not settings.REDIS_URL:
        cache.clear()


@pytest.fixture
def team_a(db):
    return DepartmentFactory(name="Reparaties & Onderhoud", slug="reparaties")


@pytest.fixture
def team_b(db):
    return DepartmentFactory(name="Huur & Betalingen", slug="huur")


@pytest.fixture
def coordinator(db):
    return UserFactory(
        username="cora", role="coordinator", first_name="Cora", last_name="Coördinator"
    )


@pytest.fixture
def staff_a(db, team_a):
    user = UserFactory(username="anna", role="staff", first_name="Anna", last_name="de Vries")
    team_a.memberships.create(user=user)
    return user


@pytest.fixture
def lead_a(db, team_a):
    user = UserFactory(username="lars", role="staff", first_name="Lars", last_name="Leider")
    team_a.memberships.create(user=user, is_lead=True)
    return user


@pytest.fixture
def staff_b(db, team_b):
    user = UserFactory(username="bram", role="staff", first_name="Bram", last_name="Bakker")
    team_b.memberships.create(user=user)
    return user


@pytest.fixture
def manager(db):
    return UserFactory(username="mila", role="manager", first_name="Mila", last_name="Manager")


@pytest.fixture
def admin_user(db):
    return UserFactory(
        username="ada",
        role="admin",
        first_name="Ada",
        last_name="Admin",
        is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def channel(db):
    return ChannelFactory()


@pytest.fixture
def conversation(db, channel):
    return ConversationFactory(channel=channel)


@pytest.fixture
def office_calendar(db):
    """Monday to Friday 09:00-17:00 Amsterdam, closed on Dutch holidays."""
    from routing.models import BusinessCalendar, BusinessWindow

    cal = BusinessCalendar.objects.create(name="Kantoor", timezone="Europe/Amsterdam")
    BusinessWindow.objects.bulk_create(
        BusinessWindow(calendar=cal, weekday=d, start=time(9), end=time(17)) for d in range(5)
    )
    return cal


@pytest.fixture
def policy(db):
    """30 business minutes to a first response, 60 to the next, 8 hours to resolution."""
    from routing.models import SlaPolicy

    return SlaPolicy.objects.create(
        name="Standaard",
        order=100,
        first_response_minutes=30,
        next_response_minutes=60,
        resolution_minutes=480,
    )


@pytest.fixture
def eager_celery():
    """Run tasks in-process (after commit) instead of sending them to the broker.

    The running app's flag, not the setting: the app read its settings at first use."""
    from webcare.celery import app as celery_app

    old = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = old
