"""The Content-Security-Policy in a real Chromium: our pages break no rule, injected script never runs."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/inbox/",
    "/team/",
    "/dashboards/",
    "/settings/",
    "/audit/",
    "/settings/two-factor/",
    "/privacy/",
]


def _watch(page):
    problems = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return problems


def test_pages_break_no_csp_rule_and_htmx_loads(new_page, login, live_server, admin_user):
    page = new_page()
    problems = _watch(page)
    login(page, admin_user)
    for path in PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status < 400, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.htmx") == "object", path
    assert problems == []


def test_injected_markup_cannot_run_script(new_page, live_server):
    page = new_page()
    problems = _watch(page)
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        """() => {
            document.body.insertAdjacentHTML('beforeend',
                '<img src="data:," onerror="window.pwned = 1">' +
                '<a id="js-link" href="javascript:window.pwned = 2">x</a>');
            const s = document.createElement('script');
            s.textContent = 'window.pwned = 3';
            document.body.appendChild(s);
        }"""
    )
    page.click("#js-link")
    page.wait_for_timeout(200)
    assert page.evaluate("window.pwned") is None
    assert any("Content Security Policy" in p for p in problems)
