"""Labels in a real Chromium: the "l" key opens the panel's label boxes, saving re-renders the
row with its chip, and the inbox filters by the label."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import ConversationLabel, Label
from tests.e2e.test_inbox_browser import logged_in_page
from tests.factories import ConversationFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_label_a_conversation_by_keyboard_and_filter_the_inbox(
    browser, live_server, coordinator, channel
):
    klacht = Label.objects.create(name="Klacht", colour="red")
    now = timezone.now()
    target = ConversationFactory(channel=channel, snippet="Al weken geen reactie", received_at=now)
    ConversationFactory(
        channel=channel, snippet="Dank voor de snelle hulp", received_at=now - timedelta(hours=1)
    )
    page = logged_in_page(browser, live_server, coordinator)
    page.goto(live_server.url + "/inbox/")
    expect(page.locator("[data-row]")).to_have_count(2)

    page.keyboard.press("j")  # the cursor on the top row
    page.keyboard.press("l")  # opens the panel and its label boxes
    box = page.locator(f"#label-{target.pk}-{klacht.pk}")
    box.wait_for()
    assert box.evaluate("el => el === document.activeElement")
    page.keyboard.press("Space")
    page.click("#action-labels button[type=submit]")
    page.wait_for_selector("text=Labels saved.")
    row = page.locator(f"#conversation-{target.pk}")
    expect(row.locator(".label-chip")).to_have_text("Klacht")
    assert ConversationLabel.objects.filter(conversation=target, label=klacht).exists()

    page.click(".filters summary")
    page.select_option("#f-label", str(klacht.pk))
    expect(page.locator("[data-row]")).to_have_count(1)
    expect(page.locator("[data-row]")).to_contain_text("Al weken geen reactie")
    assert f"label={klacht.pk}" in page.url
