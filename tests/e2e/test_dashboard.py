"""In Chromium: a manager opens the dashboard, changes the period, sees the charts drawn by
Chart.js, and downloads a CSV export; leaves out the conversations that started with a reply to
a message not in the inbox, by keyboard, and on a phone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.rollup.run import run_rollups
from tests.factories import ConversationFactory, DepartmentFactory, MessageFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A chart counts as rendered when Chart.js owns the canvas and painted pixels on it.
CHART_DRAWN = """(selector) => {
    const canvas = document.querySelector(selector);
    if (!canvas || !window.Chart || !window.Chart.getChart(canvas)) return false;
    const ctx = canvas.getContext("2d");
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
    return false;
}"""


@pytest.fixture(autouse=True)
def private_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "e2e"}
    }


@pytest.fixture
def history():
    team = DepartmentFactory(name="Reparaties", slug="reparaties")
    agent = UserFactory(username="anna", role="staff", first_name="Anna", last_name="de Vries")
    team.memberships.create(user=agent)
    now = timezone.now()
    for i in range(12):
        at = now - timedelta(days=i % 6, hours=2 + i)
        # Every third one a private chat (the "Public and private" panel).
        conv = ConversationFactory(department=team, received_at=at, is_public=i % 3 != 0)
        MessageFactory(conversation=conv, created_at=at, direction="in")
        MessageFactory(
            conversation=conv,
            created_at=at + timedelta(minutes=5 + 7 * i),
            direction="out",
            sent_by=agent,
        )
    # One conversation that starts with a reply to a message the inbox never had: 9 hours.
    at = now - timedelta(days=1, hours=10)
    conv = ConversationFactory(department=team, received_at=at)
    MessageFactory(conversation=conv, created_at=at, direction="in", parent_external_id="gone")
    MessageFactory(
        conversation=conv, created_at=at + timedelta(hours=9), direction="out", sent_by=agent
    )
    run_rollups(now=now + timedelta(minutes=1))


def test_manager_changes_period_sees_charts_and_downloads_csv(
    new_page, login, live_server, history
):
    manager = UserFactory(username="mila", role="manager", first_name="Mila")
    page = new_page(width=1280, height=1000, locale="en-GB")
    login(page, manager)
    page.goto(f"{live_server.url}/dashboards/?days=30")
    page.wait_for_function(CHART_DRAWN, arg="#panel-volume canvas")
    page.wait_for_function(CHART_DRAWN, arg="#panel-department canvas")
    assert "Reparaties" in page.text_content("#panel-department")  # the (folded) data table
    # The public/private and channel kind breakdowns: drawn, and their tables name the rows.
    page.wait_for_function(CHART_DRAWN, arg="#panel-visibility canvas")
    page.wait_for_function(CHART_DRAWN, arg="#panel-channel_kind canvas")
    visibility = page.locator("#panel-visibility th[scope=row]").all_text_contents()
    assert sorted(visibility) == ["Private", "Public"]
    assert page.locator("#panel-channel_kind th[scope=row]").all_text_contents() == ["X"]

    page.select_option("#period-days", "7")
    page.wait_for_url("**/dashboards/?days=7**")
    page.wait_for_function(CHART_DRAWN, arg="#panel-volume canvas")
    # Seven days, one point each: the chart was drawn again for the new period.
    points = page.evaluate(
        "() => Chart.getChart(document.querySelector('#panel-volume canvas')).data.labels.length"
    )
    assert points == 7

    with page.expect_download() as info:
        page.click("#panel-department a.dash-csv")
    download = info.value
    assert download.suggested_filename.startswith("department-")
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    notes = [line for line in lines if line.startswith(("# ", '"# '))]
    assert lines[: len(notes)] == notes and len(notes) > 3
    assert lines[len(notes)].startswith("By department,Answered")
    assert any(line.startswith("Reparaties,13,") for line in lines)


ANSWERED = """() => [...document.querySelectorAll('#panel-response th[scope=row]')]
    .find((th) => th.textContent === 'Answered conversations')?.nextElementSibling?.textContent"""


@pytest.mark.parametrize(("width", "height"), [(1280, 1000), (360, 740)])
def test_manager_leaves_out_orphan_starts_by_keyboard(
    new_page, login, live_server, history, width, height
):
    manager = UserFactory(username="mila", role="manager", first_name="Mila")
    page = new_page(width=width, height=height, locale="en-GB")
    login(page, manager)
    page.goto(f"{live_server.url}/dashboards/?days=30")
    page.wait_for_function(f"{ANSWERED} === '13'")
    assert "1 of 13 conversations that started in this period began with a reply to a message" in (
        page.text_content("#orphan-note")
    )
    box = page.get_by_label(
        "Leave out conversations that started with a reply to a message not in the inbox"
    )
    assert not box.is_checked()
    box.focus()
    page.keyboard.press("Space")
    page.wait_for_url("**/dashboards/?*orphans=exclude*")
    page.wait_for_function(f"{ANSWERED} === '12'")
    assert page.get_by_label(
        "Leave out conversations that started with a reply to a message not in the inbox"
    ).is_checked()
    assert (
        "1 conversation excluded (started with a reply to a message not in the inbox), of 13"
        " that started in this period."
    ) in page.text_content("#orphan-note")
    # The note links to the definition, which is on the page.
    page.click("#orphan-note a")
    definition = page.locator("#orphan-starts")
    assert definition.is_visible() and definition.evaluate(
        "(el) => el.getBoundingClientRect().top < window.innerHeight"
    )
    # The control fits the screen: nothing scrolls sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
