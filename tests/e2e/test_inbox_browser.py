"""The coordinator's inbox in a real Chromium: live updates, keyboard triage, bulk, collision, phone.

The new mention comes in through the real ingest service (inbox.services.ingest); the page must
show it through its own polling, without a reload.
"""

import os
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, HouseRule, Status
from inbox.services.ingest import ingest_messages
from tests.factories import ConversationFactory, UserFactory

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still
# plain synchronous calls between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def logged_in_page(browser, live_server, user, **context_args):
    """A page whose browser context carries a session of `user` (no login form round trip)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(**context_args)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    # Generous: the live server shares two cores with the test run (CI, benches).
    page.set_default_timeout(30_000)
    return page


def test_new_mention_arrives_and_is_forwarded_by_keyboard(
    browser, live_server, coordinator, team_a, staff_a, channel
):
    ConversationFactory(
        channel=channel, snippet="Een oudere vraag", received_at=timezone.now() - timedelta(hours=1)
    )
    page = logged_in_page(browser, live_server, coordinator)
    page.goto(live_server.url + "/inbox/")
    page.wait_for_selector("text=Een oudere vraag")

    result = ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(
                external_id="tweet-1",
                text="Lekkage bij de voordeur, graag snel hulp",
                created_at=timezone.now(),
                author_id="u-77",
                author_handle="huurder77",
                url="https://x.com/huurder77/status/1",
            )
        ],
    )
    assert result is not None
    new = Conversation.objects.get(messages__external_id="tweet-1")
    marker = page.locator("[data-new-button]")
    marker.wait_for(timeout=30_000)  # the page polls every few seconds
    assert "1 new" in marker.inner_text()
    marker.click()
    row = page.locator(f"#conversation-{new.pk}")
    row.wait_for()
    expect(row).not_to_have_class(re.compile("htmx-added"))  # htmx has settled the new row
    assert page.locator("[data-row]").first.get_attribute("id") == f"conversation-{new.pk}"

    page.keyboard.press("j")  # the cursor lands on the new top row
    page.keyboard.press("f")  # opens the panel and the forward form
    department = page.locator("#forward-department")
    department.wait_for()
    assert department.evaluate("el => el === document.activeElement")
    department.select_option(str(team_a.pk))
    page.keyboard.press("Tab")  # the note
    page.keyboard.press("Tab")  # the submit button
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Forwarded to")
    row.wait_for(state="detached")
    new.refresh_from_db()
    assert new.department == team_a and new.status == Status.TRIAGED

    team_page = logged_in_page(browser, live_server, staff_a)
    team_page.goto(live_server.url + "/team/")
    assert team_page.locator("text=Lekkage bij de voordeur").count() == 1


def test_bulk_hide_of_100(browser, live_server, coordinator, channel):
    now = timezone.now()
    for i in range(100):
        ConversationFactory(
            channel=channel, snippet=f"Scheldpartij {i}", received_at=now - timedelta(seconds=i)
        )
    rule = HouseRule.objects.get_or_create(
        title="No threats", defaults={"text": "We remove threats."}
    )[0]
    page = logged_in_page(browser, live_server, coordinator)
    page.goto(live_server.url + "/inbox/")
    page.click("[data-more]")  # the second keyset page
    expect(page.locator("[data-row]")).to_have_count(100)
    page.check("#select-all")
    page.select_option("#b-action", "hide")
    page.select_option("#b-rule", str(rule.pk))
    page.click("text=Apply to selection")
    page.wait_for_selector("text=100 conversations done")
    expect(page.locator("[data-row]")).to_have_count(0)
    assert (
        Conversation.objects.filter(status=Status.HIDDEN, status_reason=rule.title).count() == 100
    )


def test_two_coordinators_collide(browser, live_server, coordinator, team_a, team_b, channel):
    conv = ConversationFactory(channel=channel, snippet="Wie pakt deze op?")
    otto = UserFactory(username="otto", role="coordinator", first_name="Otto", last_name="Other")
    url = f"{live_server.url}/conversations/{conv.pk}/"
    cora_page = logged_in_page(browser, live_server, coordinator)
    cora_page.goto(url)
    otto_page = logged_in_page(browser, live_server, otto)
    otto_page.goto(url)
    assert "Also viewing: Cora" in otto_page.locator("#presence").inner_text()

    cora_page.click("#action-forward summary")
    cora_page.select_option("#forward-department", str(team_a.pk))
    cora_page.click("#action-forward button[type=submit]")
    cora_page.wait_for_selector("text=Forwarded to")

    otto_page.click("#action-forward summary")
    otto_page.select_option("#forward-department", str(team_b.pk))
    otto_page.click("#action-forward button[type=submit]")
    alert = otto_page.locator("#panel-alert [role=alert]")
    alert.wait_for()
    assert (
        "Cora Coördinator changed this conversation in the meantime; reload to see it"
        in alert.inner_text()
    )
    conv.refresh_from_db()
    assert conv.department == team_a


def test_inbox_is_usable_at_360px(browser, live_server, coordinator, team_a, channel):
    for i in range(5):
        ConversationFactory(
            channel=channel, snippet=f"Een heel lang bericht over de verwarming nummer {i} " * 3
        )
    page = logged_in_page(browser, live_server, coordinator, viewport={"width": 360, "height": 740})
    page.goto(live_server.url + "/inbox/")
    no_hscroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_hscroll)
    page.locator("[data-open-panel]").first.click()
    page.wait_for_selector("#panel .conv-panel")
    assert page.evaluate(no_hscroll)
    box = page.locator("#panel").bounding_box()
    assert box["width"] <= 360 and box["x"] >= 0  # the panel covers the screen
    summary = page.locator("#action-forward summary")
    summary.scroll_into_view_if_needed()
    summary.click()
    page.select_option("#forward-department", str(team_a.pk))
    page.click("#action-forward button[type=submit]")
    page.wait_for_selector("text=Forwarded to")
    assert page.evaluate(no_hscroll)
    page.click("[data-close-panel]")
    page.wait_for_selector("[data-row]")
