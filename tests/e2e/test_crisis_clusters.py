"""In Chromium, on a phone: a coordinator opens the crisis clusters, takes one item out,
answers the rest of the cluster with one reply after the confirmation page, threats kept out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.services.ingest import ingest_messages
from reports.crisis.clustering import cluster_batch
from reports.models import CrisisClusterAction
from tests.factories import ChannelFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE = "Schande @woonstad, jullie laten huurders al weken zonder verwarming zitten"


def test_coordinator_answers_a_cluster_on_a_phone(new_page, login, live_server):
    channel = ChannelFactory()
    at = timezone.now() - timedelta(minutes=5)
    texts = [f"{BASE}{'!' * (i % 3 + 1)}" for i in range(20)] + [f"{BASE}. Ik maak je dood"] * 2
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(external_id=f"e{i}", text=t, created_at=at, author_id=f"e{i}")
            for i, t in enumerate(texts)
        ],
    )
    cluster_batch(now=timezone.now())
    coordinator = UserFactory(username="carla", role="coordinator")
    page = new_page(width=390, height=844)
    login(page, coordinator)
    page.goto(f"{live_server.url}/dashboards/crisis/clusters/")
    assert page.get_by_text("2 threats kept out").is_visible()
    page.get_by_role("link", name="22 mentions").click()
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Take the ticked items out").click()
    page.get_by_label("One reply to every conversation").fill("Wij komen deze week langs.")
    page.get_by_role("button", name="Answer all…").click()
    assert page.get_by_text("each of 19 conversations").is_visible()
    page.get_by_role("button", name="Yes, answer them all").click()
    page.get_by_text("19 conversations in this action").wait_for()
    record = CrisisClusterAction.objects.get()
    assert (len(record.items), record.threats_kept_out, record.taken_out) == (19, 2, 1)
