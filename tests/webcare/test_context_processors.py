"""The header's context processors: navigation by role and the capped unread count, one query each."""

import pytest
from django.test import RequestFactory
from django.utils import timezone

from inbox.models import Notification
from webcare.context_processors import navigation, notification_count

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def _keys(context):
    return [key for key, _label, _href in context["nav_items"]]


def test_lead_and_unread_count_cost_one_query_each(lead_a, django_assert_num_queries):
    Notification.objects.create(user=lead_a, kind="x", text="unread")
    Notification.objects.create(user=lead_a, kind="x", text="read", read_at=timezone.now())
    request = _request(lead_a)
    with django_assert_num_queries(1):
        assert "dashboards" in _keys(navigation(request))
    with django_assert_num_queries(1):
        assert notification_count(request) == {"unread_notifications": 1}


def test_staff_without_lead_role_has_no_dashboards(staff_a):
    assert "dashboards" not in _keys(navigation(_request(staff_a)))
    assert notification_count(_request(staff_a)) == {"unread_notifications": 0}


def test_manager_and_coordinator_navigation(manager, coordinator):
    assert "dashboards" in _keys(navigation(_request(manager)))
    keys = _keys(navigation(_request(coordinator)))
    assert keys[:2] == ["inbox", "rules"] and "dashboards" not in keys


def test_unread_count_is_capped(staff_a):
    Notification.objects.bulk_create(
        Notification(user=staff_a, kind="x", text=str(i)) for i in range(101)
    )
    assert notification_count(_request(staff_a)) == {"unread_notifications": "99+"}


def test_header_costs_nothing_until_a_template_shows_it(staff_a, django_assert_num_queries):
    # An htmx fragment renders with the same context processors but shows no header.
    request = _request(staff_a)
    with django_assert_num_queries(0):
        navigation(request)
        notification_count(request)
    with django_assert_num_queries(1):
        assert "team" in _keys(navigation(request))
