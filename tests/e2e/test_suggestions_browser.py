"""Browser test: the suggestions panel loads once scrolled to, says why, and a click puts a
suggestion into the composer; nothing is sent or saved by it. On a phone-sized screen too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assist import services
from inbox.models import CannedAnswer, Direction, Reply
from tests.factories import ConversationFactory, MessageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_suggestion_goes_into_the_composer_on_a_click(
    new_page, login, live_server, settings, tmp_path, team_a, staff_a, width
):
    settings.VAR_DIR = tmp_path
    past = ConversationFactory(department=team_a, snippet="Lekkage in de badkamer")
    MessageFactory(conversation=past, text="Lekkage in de badkamer, water door het plafond.")
    MessageFactory(
        conversation=past,
        text="We sturen vandaag een loodgieter langs.",
        direction=Direction.OUTBOUND,
        created_at=past.received_at + timedelta(minutes=5),
    )
    CannedAnswer.objects.create(
        department=team_a,
        title="Lekkage melden",
        body="Hoi {{contact_name}}, we sturen een loodgieter voor de lekkage.",
    )
    question = ConversationFactory(
        department=team_a, snippet="Help, lekkage badkamer!", contact__name="Jan"
    )
    MessageFactory(conversation=question, text="Help, lekkage badkamer! Het druppelt.")
    services.update_similar()

    page = new_page(width=width, height=800)
    login(page, staff_a)
    page.goto(f"{live_server.url}/team/conversations/{question.pk}/")
    page.locator("#suggestions").scroll_into_view_if_needed()
    page.wait_for_selector(f"#suggestions a:has-text('#{past.pk}')")
    assert "similar to this one" in page.locator("#suggestions .why").first.inner_text()
    page.get_by_role("button", name="Insert “Lekkage melden” into your reply").click()
    assert page.locator("#reply-text").input_value() == (
        "Hoi Jan, we sturen een loodgieter voor de lekkage."
    )
    page.get_by_role("button", name=f"Insert the reply of #{past.pk} into your reply").click()
    assert "We sturen vandaag een loodgieter langs." in page.locator("#reply-text").input_value()
    assert not Reply.objects.exists()
    # The panel fits the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
