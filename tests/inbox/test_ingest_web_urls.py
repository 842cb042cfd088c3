"""Ingest stores only http(s) links: the templates put them in href/src, where a
platform-supplied `javascript:` or `data:` URL would run."""

from datetime import UTC, datetime

import pytest

from inbox.channels.base import IncomingMessage
from inbox.models import Contact, Message
from inbox.services.ingest import ingest_messages

pytestmark = pytest.mark.django_db
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_only_http_links_are_stored(channel):
    batch = [
        IncomingMessage(
            external_id="bad",
            text="kijk hier",
            created_at=T0,
            author_id="a-bad",
            author_avatar_url="data:text/html,<script>alert(1)</script>",
            author_profile_url=" javascript:alert(1)",
            url=" javascript:alert(1)",
        ),
        IncomingMessage(
            external_id="good",
            text="kijk daar",
            created_at=T0,
            author_id="a-good",
            author_avatar_url="HTTPS://example.org/a.png",
            author_profile_url="http://example.org/u",
            url="HTTPS://example.org/x",
        ),
    ]
    ingest_messages(channel=channel, messages=batch, cursor={})

    assert Message.objects.get(external_id="bad").url == ""
    assert Message.objects.get(external_id="good").url == "HTTPS://example.org/x"
    bad = Contact.objects.get(external_id="a-bad")
    assert (bad.avatar_url, bad.profile_url) == ("", "")
    good = Contact.objects.get(external_id="a-good")
    assert (good.avatar_url, good.profile_url) == (
        "HTTPS://example.org/a.png",
        "http://example.org/u",
    )
