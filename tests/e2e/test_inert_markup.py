"""Hostile markup in mentions stays inert everywhere it is shown, proved in Chromium.

A mention whose text, author name, handle and contact fields carry HTML, script and markdown
payloads comes in through the real ingest service; then every page that shows it is opened in a
real browser. A payload that ran would set `window.__pwned` or open a dialog; the payload must
instead be readable as plain text. CSV exports and the e-mail notification are checked as files.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, Flag
from inbox.services.ingest import ingest_messages
from inbox.services.triage import flag_conversation, forward_conversation
from reports.rollup.run import run_rollups
from tests.factories import DepartmentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = '"><svg onload=window.__pwned=1>'
JS_LINK = '<a href="javascript:window.__pwned=1">klik</a>'
MARKDOWN = "[x](javascript:window.__pwned=1)"
TEXT = f"Lekkage {SCRIPT} {IMG} {SVG} {JS_LINK} {MARKDOWN} =HYPERLINK(1)"
AUTHOR_NAME = f"Eve {IMG}"
HANDLE = f"eve{SVG}"

NOT_PWNED = "() => typeof window.__pwned === 'undefined'"
# Any element carrying an inline handler or a javascript: URL means markup got through.
LIVE_MARKUP = """() => Array.from(document.querySelectorAll('*')).filter(el =>
    Array.from(el.attributes).some(a => a.name.startsWith('on')
        || /^\\s*javascript:/i.test(a.value))).map(el => el.outerHTML.slice(0, 200))"""


@pytest.fixture(autouse=True)
def private_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "xss"}
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def hostile(channel):
    now = timezone.now()
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(
                external_id="xss-1",
                text=TEXT,
                created_at=now - timedelta(minutes=2),
                author_id="eve-1",
                author_handle=HANDLE,
                author_name=AUTHOR_NAME,
                author_avatar_url="javascript:window.__pwned=1",
                author_profile_url="javascript:window.__pwned=1",
                url="javascript:window.__pwned=1",
            )
        ],
    )
    return Conversation.objects.get(messages__external_id="xss-1")


def _watch(page):
    """Fail on any dialog (alert/confirm/prompt) a payload might open."""
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def _assert_inert(page, dialogs, *, shows_text=True):
    page.wait_for_load_state("networkidle")
    assert page.evaluate(NOT_PWNED), f"a payload ran on {page.url}"
    assert not dialogs, f"a dialog opened on {page.url}: {dialogs}"
    assert page.evaluate(LIVE_MARKUP) == [], f"live markup on {page.url}"
    if shows_text:
        body = page.inner_text("body")
        assert SCRIPT in body or IMG in body or "__pwned" in body, (
            f"payload not shown on {page.url}"
        )


def test_payloads_stay_inert_in_every_view(
    new_page, login, live_server, hostile, coordinator, staff_a, team_a, manager
):
    # Coordinator: inbox row and conversation panel.
    page = new_page()
    dialogs = _watch(page)
    login(page, coordinator)
    page.goto(f"{live_server.url}/inbox/")
    page.locator(f"#conversation-{hostile.pk}").wait_for()
    _assert_inert(page, dialogs)
    assert SCRIPT in page.inner_text(f"#conversation-{hostile.pk}")
    page.goto(f"{live_server.url}/conversations/{hostile.pk}/")
    _assert_inert(page, dialogs)
    body = page.inner_text("body")
    assert SCRIPT in body and IMG in body and MARKDOWN in body
    assert "Eve" in body

    # Forward it to a team, flagged as a threat so the security team is e-mailed its snippet.
    security = DepartmentFactory(name="Communicatie", slug="communicatie")
    guard = UserFactory(username="gert", role="staff", email="gert@example.org")
    security.memberships.create(user=guard)
    hostile.refresh_from_db()
    forward_conversation(
        conversation=hostile,
        department=team_a,
        acting_user=coordinator,
        version=hostile.version,
        note=f"Graag oppakken {SCRIPT}",
    )
    hostile.refresh_from_db()
    flag_conversation(
        conversation=hostile, flag=Flag.THREAT, acting_user=coordinator, version=hostile.version
    )

    # Staff: team queue, the conversation in the team, the workspace, in-app notifications.
    page = new_page()
    dialogs = _watch(page)
    login(page, staff_a)
    page.goto(f"{live_server.url}/team/")
    _assert_inert(page, dialogs)
    page.goto(f"{live_server.url}/team/conversations/{hostile.pk}/")
    _assert_inert(page, dialogs)
    assert SCRIPT in page.inner_text("body")
    page.goto(f"{live_server.url}/team/conversations/{hostile.pk}/workspace/")
    _assert_inert(page, dialogs, shows_text=False)  # the composer fragment, no mention text

    page = new_page()
    dialogs = _watch(page)
    login(page, guard)
    page.goto(f"{live_server.url}/notifications/")
    _assert_inert(page, dialogs)

    # Manager: dashboard panels (loaded by htmx) and the crisis view, after a roll-up.
    run_rollups(now=timezone.now() + timedelta(minutes=1))
    page = new_page(width=1280, height=1000)
    dialogs = _watch(page)
    login(page, manager)
    page.goto(f"{live_server.url}/dashboards/?days=7")
    _assert_inert(page, dialogs, shows_text=False)
    page.goto(f"{live_server.url}/dashboards/crisis/")
    _assert_inert(page, dialogs)
    assert SCRIPT in page.inner_text("body")

    # E-mail: plain text only, the payload as literal text, no HTML part, a one-line subject.
    threat_mails = [m for m in mail.outbox if "gert@example.org" in m.to]
    assert threat_mails, "the threat e-mail was not sent"
    for message in threat_mails:
        assert message.content_subtype == "plain"
        assert not getattr(message, "alternatives", None)
        assert "\n" not in message.subject
        assert SCRIPT in message.body


def _csv_cells(response) -> list[str]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response["Content-Type"].startswith("text/csv")
    return [cell for row in csv.reader(io.StringIO(content.decode())) for cell in row]


def test_csv_exports_neutralise_formulas(hostile, coordinator, staff_a, team_a, manager):
    hostile.refresh_from_db()
    forward_conversation(
        conversation=hostile, department=team_a, acting_user=coordinator, version=hostile.version
    )
    Conversation.objects.filter(pk=hostile.pk).update(snippet='=HYPERLINK("http://x")' + TEXT)
    client = Client()
    client.force_login(staff_a)
    cells = _csv_cells(client.get(f"/team/export.csv?team={team_a.slug}"))
    assert any(SCRIPT in c for c in cells), "the snippet is missing from the team export"
    assert not [c for c in cells if c[:1] in ("=", "+", "@")], "a formula cell in the team export"

    run_rollups(now=timezone.now() + timedelta(minutes=1))
    client.force_login(manager)
    for name in ("volume", "department"):
        response = client.get(f"/dashboards/panel/{name}/?days=7&format=csv")
        assert response.status_code == 200
        assert not [c for c in _csv_cells(response) if c[:1] in ("=", "+", "@")]
