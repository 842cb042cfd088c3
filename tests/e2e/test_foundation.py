import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def _switch_language(page, code: str) -> None:
    # app.js submits the switch on change; the server redirects back to the same page.
    with page.expect_navigation():
        page.select_option("#language-select", code)
    expect(page.locator("html")).to_have_attribute("lang", code)


def test_coordinator_logs_in_sees_inbox_and_switches_to_dutch(
    new_page, login, live_server, coordinator
):
    page = new_page(locale="en-GB")
    page.goto(f"{live_server.url}/login/")
    _switch_language(page, "en")
    login(page, coordinator)
    page.wait_for_url("**/inbox/")
    assert page.locator("h1").inner_text() == "Shared inbox"
    assert page.get_by_role("link", name="Inbox", exact=True).is_visible()

    _switch_language(page, "nl")
    assert page.locator("h1").inner_text() == "Gedeelde inbox"
    assert page.get_by_role("link", name="Mijn team", exact=True).is_visible()
    assert page.get_by_role("button", name="Uitloggen").is_visible()


def test_login_page_works_at_phone_width(new_page, live_server):
    page = new_page(width=360, height=740)
    page.goto(f"{live_server.url}/login/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement !== document.body")
