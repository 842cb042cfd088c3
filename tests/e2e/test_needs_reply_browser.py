"""The "needs a reply" hint in a real Chromium, beside the labels it was merged with: the chip
says why in its accessible name, the order puts the likeliest first, the "no reply likely" view
keeps only the unlikely ones, and the label filter still narrows the same list."""

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import Label
from inbox.services.labels import set_labels
from tests.e2e.test_inbox_browser import logged_in_page
from tests.factories import ConversationFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_order_and_no_reply_likely_view_with_a_label(browser, live_server, coordinator, channel):
    now = timezone.now()
    thanks = ConversationFactory(
        channel=channel,
        snippet="Dank voor de snelle hulp!",
        needs_reply=12,
        needs_reply_reasons="thanks,short",
        received_at=now,
    )
    question = ConversationFactory(
        channel=channel,
        snippet="Wanneer komt de monteur?",
        needs_reply=91,
        needs_reply_reasons="question",
        received_at=now - timedelta(hours=1),
    )
    klacht = Label.objects.create(name="Klacht", colour="red")
    set_labels(conversation=thanks, add=[klacht], remove=[], acting_user=coordinator)
    page = logged_in_page(browser, live_server, coordinator)
    page.goto(live_server.url + "/inbox/")
    rows = page.locator("[data-row]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Dank voor de snelle hulp")  # newest first by default
    chip = page.locator(f"#conversation-{question.pk} .needs-reply")
    expect(chip).to_have_attribute("aria-label", "Reply likely needed (91 of 100): question mark")
    expect(page.locator(f"#conversation-{thanks.pk} .label-chip")).to_have_text("Klacht")

    page.click(".filters summary")
    page.select_option("#f-sort", "needs_reply")
    expect(rows.first).to_contain_text("Wanneer komt de monteur?")
    expect(page).to_have_url(re.compile(r"sort=needs_reply"))

    page.check("#f-no-reply-likely")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Dank voor de snelle hulp")
    page.select_option("#f-label", str(klacht.pk))
    expect(page).to_have_url(re.compile(rf"label={klacht.pk}\b"))
    expect(rows).to_have_count(1)
    assert "no_reply_likely=on" in page.url and "sort=needs_reply" in page.url
    # The label narrows the same view: the question (no label, likely) stays out.
    set_labels(conversation=question, add=[klacht], remove=[], acting_user=coordinator)
    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Dank voor de snelle hulp")
