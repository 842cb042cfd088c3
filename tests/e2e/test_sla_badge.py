"""In Chromium: a conversation's SLA badge turns orange, then red, and the coordinator is notified.

The live server runs in this process, so time_machine moves the clock for the
server thread too; the test runs the real sweep (and its notification task,
eagerly) between page loads.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from inbox.models import SlaState
from routing.models import SlaPolicy
from routing.sla import hooks, sweep
from tests.factories import PASSWORD, ChannelFactory, ConversationFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_celery():
    """The sweep's notification task runs in-process after commit."""
    from webcare.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def page(new_page):
    """The shared Chromium from tests/e2e/conftest.py."""
    return new_page(width=1200, height=900)


def test_badge_turns_orange_then_red_and_the_coordinator_is_notified(
    live_server, page, eager_celery
):
    coordinator = UserFactory(username="cora", role="coordinator", first_name="Cora")
    # No team calendar: the clock runs 24/7, 30 minutes to a first response.
    SlaPolicy.objects.create(name="Standaard", first_response_minutes=30)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        conv = ConversationFactory(
            channel=ChannelFactory(), snippet="Al drie dagen geen warm water"
        )
        hooks.on_conversation_opened(conv, conv.received_at)
        conv.refresh_from_db()
        assert conv.sla_state == SlaState.OK

        page.goto(live_server.url + "/login/")
        page.fill("input[name=username]", coordinator.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit] >> nth=-1")
        page.goto(live_server.url + "/inbox/")
        badge = page.locator(f"#conversation-{conv.pk} .badge")
        assert badge.get_attribute("class") == "badge badge-ok"

        clock.shift(timedelta(minutes=23))  # past 75% of 30 minutes
        sweep.sweep_sla()
        page.reload()
        assert badge.get_attribute("class") == "badge badge-at_risk"
        assert "due in" in badge.inner_text()
        # Orange by colour as well as by text.
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 240, 214)"

        clock.shift(timedelta(minutes=8))  # past the due time
        sweep.sweep_sla()
        page.reload()
        assert badge.get_attribute("class") == "badge badge-overdue"
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 226, 226)"

        # Shared inbox: the coordinators are its team, so "at risk" reached them as well.
        assert page.locator("#notification-count").inner_text() == "2"
        page.click("a.bell")
        item = page.locator("#notification-list li.notification").first
        assert f"#{conv.pk}" in item.inner_text()
        assert "kind-sla_overdue" in item.get_attribute("class")
