from datetime import time

import pytest

from routing.models import BusinessCalendar, BusinessWindow, SlaPolicy
from webcare.celery import app as celery_app


@pytest.fixture
def office_calendar(db):
    """Monday to Friday 09:00-17:00 Amsterdam, closed on Dutch holidays."""
    cal = BusinessCalendar.objects.create(name="Kantoor", timezone="Europe/Amsterdam")
    BusinessWindow.objects.bulk_create(
        BusinessWindow(calendar=cal, weekday=d, start=time(9), end=time(17)) for d in range(5)
    )
    return cal


@pytest.fixture
def policy(db):
    """30 business minutes to a first response, 60 to the next, 8 hours to resolution."""
    return SlaPolicy.objects.create(
        name="Standaard",
        order=100,
        first_response_minutes=30,
        next_response_minutes=60,
        resolution_minutes=480,
    )


@pytest.fixture
def eager_celery():
    """Run tasks in-process (after commit) instead of sending them to the broker."""
    old = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = old
