"""Browser test (issue 16, done when): a public X mention handed over to a private conversation,
the customer's direct message arriving there, and both shown in one timeline, in Chromium.

Chromium drives the live server. The real XConnector posts through tweepy; `responses` replays
the X API v2 at the HTTP layer (the DM answer is the recorded tests/fixtures/x/dm_create.json).
Celery runs eagerly, so the outbox sends the DM and the public notice after the commit. The
customer's DM is ingested as X DM ingest delivers it: is_public=False, thread "dm:<user id>".
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from inbox.channels.base import IncomingMessage
from inbox.channels.credentials import encrypt_credentials
from inbox.models import Conversation, Reply, ReplyState
from inbox.services.ingest import ingest_messages
from tests.factories import ConversationFactory, MessageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

API = "https://api.twitter.com/2"
OUR_ID = "1420339457118097409"
CUSTOMER_ID = "1102938475610293847"
MENTION = "1917854669995126784"
NOTICE_ID = "1917999999999999999"
CUSTOMER_DM = "1785499999999999999"
DM_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "x" / "dm_create.json"


@pytest.fixture
def x_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{API}/tweets", json={"data": {"id": NOTICE_ID, "text": "..."}}, status=201)
        mock.post(
            f"{API}/dm_conversations/with/{CUSTOMER_ID}/messages",
            json=json.loads(DM_FIXTURE.read_text()),
            status=201,
        )
        yield mock


def test_public_mention_continues_privately_and_both_show_in_one_timeline(
    new_page, login, live_server, eager_celery, x_api, team_a, staff_a
):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    mention = ConversationFactory(
        channel__config={"user_id": OUR_ID},
        channel__credentials_encrypted=encrypt_credentials(
            {
                "consumer_key": "ck",
                "consumer_secret": "cs",
                "access_token": f"{OUR_ID}-at",
                "access_token_secret": "ats",
                "user_id": OUR_ID,
            }
        ),
        contact__external_id=CUSTOMER_ID,
        contact__handle="jdevries",
        contact__name="Jan de Vries",
        department=team_a,
        status="triaged",
        language="en",
        thread_key=MENTION,
        received_at=an_hour_ago,
        snippet="@woonstad my rent went up twice this year?",
    )
    MessageFactory(conversation=mention, external_id=MENTION)
    url = f"{live_server.url}/team/conversations/{mention.pk}/"

    # Staff of team A hands the mention over from the conversation page.
    page = new_page()
    login(page, staff_a)
    page.goto(url)
    page.get_by_text("Continue privately", exact=True).last.click()  # the <summary>
    page.get_by_label("Private message", exact=True).fill(
        "Hi Jan, could you send me your contract number?"
    )
    page.get_by_role("button", name="Send both").click()
    page.wait_for_selector("#linked-conversations")
    private = Conversation.objects.get(is_public=False)
    assert private.thread_key == f"dm:{CUSTOMER_ID}"
    assert f"Continued privately in conversation #{private.pk}" in page.inner_text(
        "#linked-conversations"
    )
    # The DM and the public notice each went out once, through the outbox.
    assert sorted(c.request.url for c in x_api.calls) == [
        f"{API}/dm_conversations/with/{CUSTOMER_ID}/messages",
        f"{API}/tweets",
    ]
    assert set(Reply.objects.values_list("state", flat=True)) == {ReplyState.SENT}

    # The customer answers by DM: X DM ingest files it under "dm:<their id>".
    ingest_messages(
        channel=mention.channel,
        messages=[
            IncomingMessage(
                external_id=CUSTOMER_DM,
                text="Sure, it is HC-20418.",
                created_at=datetime.now(UTC),
                author_id=CUSTOMER_ID,
                author_handle="jdevries",
                author_name="Jan de Vries",
                conversation_external_id=f"dm:{CUSTOMER_ID}",
                is_public=False,
            )
        ],
    )
    assert Conversation.objects.filter(thread_key=f"dm:{CUSTOMER_ID}").count() == 1

    # The public conversation's page: one timeline, oldest first, each item marked.
    page.goto(url)
    items = page.locator("#thread > li")
    texts = [items.nth(i).inner_text() for i in range(items.count())]
    assert len(texts) == 4, texts
    expected = [
        ("my rent went up twice", "public"),
        ("could you send me your contract number", "private"),
        ("We have sent you a direct message", "public"),
        ("HC-20418", "private"),
    ]
    for text, (snippet, mark) in zip(texts, expected, strict=True):
        assert snippet in text and f"· {mark}" in text, text
    # The contact's history: the private conversation beside this public one.
    history = page.inner_text("#contact-history")
    assert f"#{private.pk}" in history and "private" in history

    # And from the private side: the same timeline, linking back to the mention.
    page.get_by_role("link", name=f"open #{private.pk}").click()
    page.wait_for_url(f"**/team/conversations/{private.pk}/")
    assert f"Continued from public conversation #{mention.pk}" in page.inner_text(
        "#linked-conversations"
    )
    assert page.locator("#thread > li").count() == 4
    assert f"#{mention.pk}" in page.inner_text("#contact-history")

    # On a phone the action and the timeline still fit the screen.
    phone = new_page(width=375, height=740)
    login(phone, staff_a)
    phone.goto(url)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
