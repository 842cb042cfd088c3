"""The "needs a reply" hint in the inbox: a chip that says why, and the "no reply likely"
filter (a low-priority view; the inbox without it hides nothing)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def coord_client(client, coordinator):
    client.force_login(coordinator)
    return client


def test_the_row_shows_the_score_and_why(coord_client, channel):
    ConversationFactory(
        channel=channel,
        snippet="wanneer komt de monteur",
        needs_reply=82,
        needs_reply_reasons="question,request",
    )
    body = coord_client.get(reverse("inbox:inbox")).content.decode()
    assert (
        'title="Reply likely needed (82 of 100): question mark, asks for something or for help"'
        in body
    )


def test_no_reply_likely_is_a_view_not_a_hiding_place(coord_client, channel):
    ConversationFactory(channel=channel, snippet="vraag: hoe lang nog", needs_reply=80)
    ConversationFactory(
        channel=channel,
        snippet="dank voor de snelle hulp",
        needs_reply=20,
        needs_reply_reasons="thanks,short",
    )
    ConversationFactory(channel=channel, snippet="niet gescoord", needs_reply=None)
    everything = coord_client.get(reverse("inbox:inbox")).content.decode()
    assert everything.count("data-row ") == 3
    assert "No reply likely (20 of 100): thanks or praise, very short" in everything
    low = coord_client.get(reverse("inbox:inbox"), {"no_reply_likely": "on"}).content.decode()
    assert "dank voor de snelle hulp" in low
    assert low.count("data-row ") == 1


def test_the_hint_is_in_dutch_for_a_dutch_user():
    from django.utils import translation

    with translation.override("nl"):
        from inbox.selectors.inbox import _needs_reply_hint

        hint = _needs_reply_hint(20, "thanks")
    assert hint["needs_reply_why"].startswith("Waarschijnlijk geen antwoord nodig (20 van 100)")


def test_most_likely_needs_a_reply_first_pages_by_keyset(channel):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.models import Conversation
    from inbox.selectors.inbox import needs_reply_page

    now = timezone.now()
    scores = [90, None, 20, 90, 55, None, 20]
    made = [
        ConversationFactory(channel=channel, needs_reply=s, received_at=now - timedelta(minutes=i))
        for i, s in enumerate(scores)
    ]
    seen, before = [], None
    while True:
        rows, before = needs_reply_page(Conversation.objects.all(), before=before, size=2)
        seen += rows
        if before is None:
            break
    # Score first (unscored last), then newest first within a score.
    expected = sorted(
        made,
        key=lambda c: (
            -(c.needs_reply if c.needs_reply is not None else -1),
            -c.received_at.timestamp(),
        ),
    )
    assert [c.pk for c in seen] == [c.pk for c in expected]


def test_the_inbox_sorts_by_the_hint_and_pages_on(coord_client, channel):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    ConversationFactory(channel=channel, snippet="nieuw-laag", needs_reply=10, received_at=now)
    ConversationFactory(
        channel=channel, snippet="oud-hoog", needs_reply=95, received_at=now - timedelta(hours=1)
    )
    body = coord_client.get(reverse("inbox:inbox"), {"sort": "needs_reply"}).content.decode()
    assert body.index("oud-hoog") < body.index("nieuw-laag")
    # Newest first (the default) puts the newer one first whatever its score.
    newest = coord_client.get(reverse("inbox:inbox")).content.decode()
    assert newest.index("nieuw-laag") < newest.index("oud-hoog")
    bad = coord_client.get(reverse("inbox:inbox"), {"sort": "needs_reply", "before": "x_y"})
    assert bad.status_code == 404
