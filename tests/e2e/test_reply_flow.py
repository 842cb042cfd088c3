"""Browser test: claim, canned answer via "/", four-eyes review, sent once to the (replayed) X API.

Chromium drives the live server. The real XConnector posts through tweepy; `responses`
replays the X API v2 at the HTTP layer for every thread of this process (the live
server's too). Celery runs eagerly here: the real-worker exactly-once tests are in
tests/outbox/test_exactly_once.py.
"""

from __future__ import annotations

import json
import os

import pytest
import responses

from inbox.channels.credentials import encrypt_credentials
from inbox.models import CannedAnswer, Conversation, Reply, ReplyState
from routing.models import ReviewPolicy
from tests.factories import PASSWORD, ConversationFactory, MessageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

OUR_ID = "1420339457118097409"
CUSTOMER_TWEET = "1917854669995126784"
POSTED_ID = "1917999999999999999"


@pytest.fixture
def x_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.POST,
            "https://api.twitter.com/2/tweets",
            json={"data": {"id": POSTED_ID, "text": "..."}},
            status=201,
        )
        yield mock


def login(browser, live_server, user):
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


def test_staff_claim_insert_canned_review_and_send_once(
    browser, live_server, eager_celery, x_api, team_a, staff_a, lead_a, staff_b
):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    conversation = ConversationFactory(
        department=team_a,
        status="triaged",
        channel__config={"user_id": OUR_ID, "signature": "initials"},
        channel__credentials_encrypted=encrypt_credentials(
            {
                "consumer_key": "ck",
                "consumer_secret": "cs",
                "access_token": f"{OUR_ID}-at",
                "access_token_secret": "ats",
                "user_id": OUR_ID,
            }
        ),
        contact__name="Jan de Vries",
    )
    MessageFactory(conversation=conversation, external_id=CUSTOMER_TWEET)
    CannedAnswer.objects.create(
        department=team_a,
        language="nl",
        title="Storing cv-ketel",
        shortcut="ketel",
        body="Hoi {{contact_name}}, vervelend! We sturen morgen een monteur. Groet, {{agent_name}}",
    )
    url = f"{live_server.url}/team/conversations/{conversation.pk}/"

    # Staff of team A claims the forwarded conversation and inserts the canned answer.
    anna = login(browser, live_server, staff_a)
    anna.goto(url)
    anna.get_by_role("button", name="Claim").click()
    anna.wait_for_selector("#assignee:has-text('Anna')")
    textarea = anna.locator("#reply-text")
    textarea.click()
    textarea.press_sequentially("/ketel")
    anna.locator(".canned-option").first.click()
    assert textarea.input_value() == (
        "Hoi Jan de Vries, vervelend! We sturen morgen een monteur. Groet, Anna"
    )
    anna.wait_for_selector(".preview-part:has-text('^ADV')")  # the signature, in the preview
    anna.locator("#reply-submit").click()
    anna.wait_for_selector(".reply-state[data-state='pending_review']")
    assert len(x_api.calls) == 0  # nothing leaves before the review

    # A colleague reviews and approves; the outbox posts it.
    lars = login(browser, live_server, lead_a)
    lars.goto(url)
    lars.get_by_role("button", name="Approve and send").click()
    lars.wait_for_selector(".reply-state[data-state='sent']")

    posts = [c for c in x_api.calls if c.request.method == "POST"]
    assert len(posts) == 1
    body = json.loads(posts[0].request.body)
    assert body["reply"]["in_reply_to_tweet_id"] == CUSTOMER_TWEET
    assert body["text"].startswith("Hoi Jan de Vries") and body["text"].endswith(" ^ADV")
    reply = Reply.objects.get(conversation=conversation)
    assert reply.state == ReplyState.SENT and reply.external_id == POSTED_ID
    assert Conversation.objects.get(pk=conversation.pk).status == "answered"
    assert reply.versions.count() >= 2  # draft and submitted versions are kept

    # Staff of team B may not open that conversation.
    bram = login(browser, live_server, staff_b)
    assert bram.goto(url).status == 403
    assert bram.goto(f"{live_server.url}/conversations/{conversation.pk}/").status == 403
