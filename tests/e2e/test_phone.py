"""The phone layout, in Chromium at 360x740 (the coordinator on weekend duty).

The header collapses into a menu button (the unread count stays on it), the bulk actions wait
behind a selection, the filters are a closed disclosure, and at least four inbox rows fit on the
first screen, fully, above the fold. At 1280x800 everything is on screen as before.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import Conversation, Flag, Notification, Priority, SlaState, Status
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 360, 740
NO_HSCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# Real mentions are long: several of these fill the 160 characters a row shows.
SNIPPETS = [
    "@woonstad Al drie dagen geen warm water in de Lindestraat 12, de cv-ketel geeft storing E133 "
    "en niemand neemt op bij het storingsnummer. Wanneer komt er iemand langs?",
    "Lift in de flat aan de Prinsenlaan staat alweer stil, mijn moeder van 84 kan niet naar "
    "beneden. Dit is de derde keer deze maand!! @woonstad",
    "Vraagje: kan ik mijn huur ook per kwartaal betalen?",
    "Schimmel in de badkamer komt steeds terug ondanks ventileren, foto's heb ik al twee keer "
    "gestuurd. Wat gaan jullie eraan doen @woonstad? #huurders #schimmel",
    "Top geholpen door de monteur vanochtend, dank jullie wel!",
    "Waarom krijg ik een aanmaning terwijl ik de huur gewoon op de eerste heb overgemaakt? "
    "Ik heb het afschrift hier voor me liggen. Graag een reactie.",
    "Er staat al een week grofvuil naast de containers bij de Eikenhof, het trekt ratten aan.",
    "@woonstad jullie nieuwe brief over de huurverhoging is echt een schoffering van iedereen "
    "die hier al dertig jaar woont. Schaam je!",
    "Is het kantoor op tweede paasdag open?",
    "De voordeur van ons portiek sluit niet meer, iedereen loopt zo naar binnen.",
    "Mijn buurman heeft een uitbouw geplaatst zonder toestemming, mag dat zomaar?",
    "Lekkage bij het dakraam sinds de storm van gisteren, het water loopt langs de muur naar "
    "beneden en de vloer raakt doorweekt. Kan er vandaag nog iemand komen?",
]


@pytest.fixture
def twelve_open(channel):
    now = timezone.now()
    conversations = []
    for i, snippet in enumerate(SNIPPETS):
        conversations.append(
            ConversationFactory(
                channel=channel,
                snippet=snippet,
                received_at=now - timedelta(minutes=7 * i + 1),
                sentiment="negative" if i % 3 == 0 else "neutral",
                flags=Flag.THREAT | Flag.PRESS if i == 7 else 0,
                priority=Priority.HIGH if i == 1 else Priority.NORMAL,
                sla_state=[SlaState.OK, SlaState.AT_RISK, SlaState.OVERDUE][i % 3],
                sla_due_at=now + timedelta(minutes=45 - 20 * (i % 3)),
            )
        )
    return conversations


def _open_inbox(new_page, login, live_server, user, *, width=WIDTH, height=HEIGHT):
    page = new_page(width=width, height=height)
    login(page, user)
    page.goto(f"{live_server.url}/inbox/")
    page.wait_for_selector("[data-row]")
    return page


# Rows whose box lies fully inside the viewport and are not covered by anything else there.
ROWS_ON_FIRST_SCREEN = """() => Array.from(document.querySelectorAll('[data-row]')).filter(row => {
    const r = row.getBoundingClientRect();
    if (r.height === 0 || r.top < 0 || r.left < 0) return false;
    if (r.bottom > window.innerHeight || r.right > window.innerWidth) return false;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit !== null && hit.closest('[data-row]') === row;
}).length"""


def test_four_rows_fit_the_first_screen_of_a_phone(
    new_page, login, live_server, coordinator, twelve_open
):
    page = _open_inbox(new_page, login, live_server, coordinator)
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate(NO_HSCROLL)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    expect(page.locator("[data-row]")).to_have_count(12)
    assert page.evaluate(ROWS_ON_FIRST_SCREEN) >= 4
    # The same with Python's view of the boxes: y + height within 740.
    boxes = [page.locator("[data-row]").nth(i).bounding_box() for i in range(12)]
    assert sum(1 for b in boxes if b["y"] >= 0 and b["y"] + b["height"] <= HEIGHT) >= 4


def test_the_menu_button_opens_the_navigation_by_keyboard(
    new_page, login, live_server, coordinator, twelve_open
):
    Notification.objects.create(user=coordinator, kind="sla_at_risk", text="Bijna te laat")
    page = _open_inbox(new_page, login, live_server, coordinator)
    menu = page.locator("button[aria-controls]").filter(has_text="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    region = page.locator("#" + menu.get_attribute("aria-controls"))
    inbox_link = page.get_by_role("link", name="Inbox", exact=True)
    expect(inbox_link).to_be_hidden()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    # The unread count stays on the collapsed header, in text and for screen readers.
    expect(menu).to_contain_text("1")
    assert "1 unread" in menu.evaluate("el => el.textContent.replace(/\\s+/g, ' ')")

    # Reachable with Tab (skip link, brand, menu), with a visible focus ring.
    for _ in range(5):
        page.keyboard.press("Tab")
        if menu.evaluate("el => el === document.activeElement"):
            break
    assert menu.evaluate("el => el === document.activeElement")
    assert menu.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
    assert menu.evaluate("el => parseFloat(getComputedStyle(el).outlineWidth)") >= 2

    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(region).to_be_visible()
    expect(inbox_link).to_be_visible()
    expect(page.get_by_role("link", name="My team", exact=True)).to_be_visible()
    expect(page.locator("#language-select")).to_be_visible()
    expect(page.locator("a.bell")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.evaluate(NO_HSCROLL)
    page.keyboard.press("Tab")  # into the menu: the first link of the navigation
    assert page.evaluate("document.activeElement.closest('[aria-current], nav a') !== null")
    assert region.evaluate("(el) => el.contains(document.activeElement)")

    page.keyboard.press("Escape")  # closes, and focus goes back to the button
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(inbox_link).to_be_hidden()
    assert menu.evaluate("el => el === document.activeElement")
    page.keyboard.press(" ")  # Space toggles too
    expect(menu).to_have_attribute("aria-expanded", "true")
    inbox_link.click()
    page.wait_for_selector("[data-row]")


def test_bulk_actions_wait_for_a_selection_on_a_phone(
    new_page, login, live_server, coordinator, twelve_open
):
    page = _open_inbox(new_page, login, live_server, coordinator)
    action = page.locator("#b-action")
    apply = page.get_by_role("button", name="Apply to selection")
    expect(action).to_be_hidden()
    expect(apply).to_be_hidden()
    # The filters are a closed disclosure on a phone.
    expect(page.locator("#f-q")).to_be_hidden()
    page.locator("details.filters summary").click()
    expect(page.locator("#f-q")).to_be_visible()
    page.locator("details.filters summary").click()
    expect(page.locator("#f-q")).to_be_hidden()

    # Even with a filter active (a saved view, a shared link) they start closed, saying so.
    page.goto(f"{live_server.url}/inbox/?language=nl")
    page.wait_for_selector("[data-row]")
    expect(page.locator("details.filters summary")).to_contain_text("(active)")
    expect(page.locator("#f-q")).to_be_hidden()
    assert page.evaluate(ROWS_ON_FIRST_SCREEN) >= 4

    boxes = page.locator("[data-row] .row-select")
    boxes.nth(0).check()
    expect(action).to_be_visible()
    expect(apply).to_be_visible()
    for control in (action, apply, page.locator("#select-all")):
        box = control.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT  # on screen, not scrolled off
    assert page.evaluate(NO_HSCROLL)
    boxes.nth(0).uncheck()
    expect(action).to_be_hidden()

    # The keyboard selects as well (j: the next row, x: select it), and the action goes through.
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(action).to_be_visible()
    chosen = Conversation.objects.get(
        pk=page.locator("[data-row].is-current").get_attribute("data-id")
    )
    action.select_option("priority")
    page.select_option("#b-priority", str(int(Priority.URGENT)))
    apply.click()
    page.wait_for_selector("#inbox-alert .alert-ok")
    chosen.refresh_from_db()
    assert chosen.priority == Priority.URGENT and chosen.status == Status.NEW
    expect(action).to_be_hidden()  # the updated row came back unselected
    assert Conversation.objects.filter(priority=Priority.URGENT).count() == 1


def test_desktop_keeps_the_full_header_and_bulk_bar(
    new_page, login, live_server, coordinator, twelve_open
):
    page = _open_inbox(new_page, login, live_server, coordinator, width=1280, height=800)
    expect(page.locator("button[aria-controls]").filter(has_text="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="Inbox", exact=True)).to_be_visible()
    expect(page.locator("a.bell")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("#b-action")).to_be_visible()
    expect(page.locator("#select-all")).to_be_visible()


def test_team_queue_has_no_horizontal_scroll_on_a_phone(
    new_page, login, live_server, staff_a, team_a, channel
):
    now = timezone.now()
    for i, snippet in enumerate(SNIPPETS[:6]):
        ConversationFactory(
            channel=channel,
            snippet=snippet,
            department=team_a,
            status=Status.TRIAGED,
            received_at=now - timedelta(minutes=i),
            sla_state=SlaState.AT_RISK,
            sla_due_at=now + timedelta(minutes=10),
        )
    page = new_page(width=WIDTH, height=HEIGHT)
    login(page, staff_a)
    page.goto(f"{live_server.url}/team/")
    page.wait_for_selector("#team-list tr")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    menu = page.locator("button[aria-controls]").filter(has_text="Menu")
    menu.click()
    expect(page.get_by_role("link", name="My team", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
