"""No inline script anywhere: the CSP (script-src 'self') would block it, so it must not exist."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

TEMPLATES = Path(settings.BASE_DIR) / "templates"
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
# on<event>= as an HTML attribute (after whitespace inside a tag); hx-on:* is htmx's, also inline JS.
HANDLER_ATTR = re.compile(r"<[a-zA-Z][^>]*?\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _templates():
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt", ".svg"))


def inline_script_problems(text: str) -> list[str]:
    problems = []
    for match in SCRIPT_TAG.finditer(text):
        attrs = match.group(1)
        if re.search(r"\bsrc\s*=", attrs, re.IGNORECASE):
            continue
        if re.search(r"""\btype\s*=\s*["']application/json["']""", attrs, re.IGNORECASE):
            continue  # data for a script (json_script), never executed
        problems.append(f"inline <script{attrs}>")
    problems += [f"inline handler {m.group(1)}=" for m in HANDLER_ATTR.finditer(text)]
    problems += [f"javascript: URL in {m.group(1)}" for m in JS_URL.finditer(text)]
    return problems


def test_there_are_templates_to_check():
    assert len(_templates()) > 10


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_has_no_inline_script(path):
    assert inline_script_problems(path.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        "<SCRIPT type='text/javascript'>x()</SCRIPT>",
        '<button onclick="go()">',
        "<body\n  onload='x()'>",
        '<div hx-on:click="x()">',
        '<a href="javascript:alert(1)">',
    ],
)
def test_the_scanner_catches_inline_script(snippet):
    assert inline_script_problems(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/js/app.js" defer></script>',
        '<script id="data" type="application/json">{"a": 1}</script>',
        '<p>Click on="this" in text</p>',
        '<input name="online" value="x">',
    ],
)
def test_the_scanner_allows_external_script_and_data(snippet):
    assert inline_script_problems(snippet) == []


@pytest.mark.django_db
def test_pages_send_a_csp_without_unsafe_inline(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("settings"))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
