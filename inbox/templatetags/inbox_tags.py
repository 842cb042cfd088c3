"""Template helpers of the inbox."""

from __future__ import annotations

from html import escape

from django import template
from django.template.loader import get_template
from django.utils.functional import Promise
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def has_flag(flags: int, bit) -> bool:
    return bool(int(flags or 0) & int(bit))


@register.filter
def flag_items(flags: int, labels: dict):
    """[(bit, label)] of the flags set, for badges."""
    return [(int(bit), label) for bit, label in labels.items() if int(flags or 0) & int(bit)]


@register.filter
def dictget(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def clip(text: str, length: int) -> str:
    """truncatechars for the list rows: cut at a code point, without truncatechars' scan of every
    character for combining marks (a tenth of a row's render time, fifty rows a page)."""
    return text if len(text) <= length else text[: length - 1] + "…"


def _esc(value) -> str:
    """conditional_escape() without its lazy-string wrapper: same output, a third of the cost
    (hundreds of calls on the inbox page)."""
    if isinstance(value, Promise):
        value = str(value)
    return value.__html__() if hasattr(value, "__html__") else escape(str(value))


@register.simple_tag
def select_options(options, current=None, empty_label=None):
    """<option>s for a hand-written <select>: Django's widget rendering costs ~1 ms per select,
    too much for a page with a 50 ms budget and a dozen selects. Plain string building, every
    value and label escaped."""
    current = "" if current is None else str(current)
    head = f'<option value="">{_esc(empty_label)}</option>' if empty_label is not None else ""
    body = "".join(
        f'<option value="{_esc(value)}"{" selected" if str(value) == current else ""}>'
        f"{_esc(label)}</option>"
        for value, label in options
    )
    return mark_safe(head + body)


class _RowLabels:
    """The translated words every row needs, looked up once per render instead of once per row."""

    def __init__(self, flag_labels=None):
        from django.utils.translation import gettext

        from inbox.models import Flag, Priority, Sentiment

        self.select = gettext("Select conversation")
        self.shared = gettext("Shared queue")
        self.unassigned = gettext("Unassigned")
        self.flags = [
            (int(bit), str(label)) for bit, label in (flag_labels or Flag.labels()).items()
        ]
        self.sentiment = {value: str(label) for value, label in Sentiment.choices}
        self.priority = {value: str(label) for value, label in Priority.choices}
        # Compact ages ("5 min", "3 h", "2 d"): short enough for a phone row.
        self.age_min = gettext("%(n)s min")
        self.age_hour = gettext("%(n)s h")
        self.age_day = gettext("%(n)s d")

    def age(self, then, now) -> str:
        seconds = max(0, int((now - then).total_seconds()))
        if seconds < 3600:
            return self.age_min % {"n": seconds // 60}
        if seconds < 86400:
            return self.age_hour % {"n": seconds // 3600}
        return self.age_day % {"n": seconds // 86400}


_OOB = ' hx-swap-oob="outerHTML"'


def _sla_badge(c, template) -> str:
    """The SLA slot's template, rendered only for a conversation that has an SLA clock (running
    or paused): without one the badge is empty, and skipping the render saves ~40 us a row."""
    if template is None or (c.sla_state == "none" and not c.sla_paused_at):
        return ""
    return template.render({"c": c, "conversation": c}).strip()


def _sla_template():
    return get_template("inbox/sla_badge.html")


def _row_html(
    c, *, labels: _RowLabels, now, names=None, viewers=None, oob=False, sla_template=None
) -> str:
    """One inbox row. Built in Python, not with a template: 50 rows through the template engine
    cost ~0.7 ms each, most of the inbox page's 50 ms budget. Plain string building with the
    stdlib's html.escape (what Django's escape() calls, without its lazy-string and SafeString
    wrappers) costs a fifth of format_html. Every piece of text goes through _e() below; numbers
    are ints; the SLA badge is template output (safe)."""
    _e = escape
    pk = c.pk
    url = f"/conversations/{pk}/"  # == c.get_absolute_url(); reverse() per row costs too
    channel = names["channel"].get(c.channel_id) if names else c.channel.name
    if c.department_id:
        department = names["department"].get(c.department_id) if names else c.department.name
    else:
        department = labels.shared
    if c.assignee_id:
        assignee = names["user"].get(c.assignee_id) if names else str(c.assignee)
    else:
        assignee = labels.unassigned
    flags = c.flags
    badges = (
        "".join(
            f'<span class="badge flag-{bit}">{_e(label)}</span>'
            for bit, label in labels.flags
            if flags & bit
        )
        if flags
        else ""
    )
    if c.priority >= 2:
        badges += f'<span class="badge prio">{_e(labels.priority.get(c.priority, ""))}</span>'
    language = f'<span class="tag">{_e(c.language.upper())}</span>' if c.language else ""
    who = (viewers or {}).get(pk)
    presence = f'<span class="presence">👁 {_e(", ".join(who))}</span>' if who else ""
    snippet = c.snippet if len(c.snippet) <= 160 else c.snippet[:159] + "…"
    sentiment = _e(c.sentiment)
    url = _e(url)
    return (
        f'<li id="conversation-{pk}" class="inbox-row prio-{int(c.priority)} '
        f'status-{_e(c.status)}" data-row data-id="{pk}" tabindex="-1"'
        f"{_OOB if oob else ''}>"
        f'<input type="checkbox" class="row-select" name="selected" value="{pk}:{int(c.version)}" '
        f'form="bulk-form" aria-label="{_e(labels.select)} {pk}">'
        '<div class="row-body"><div class="row-top">'
        f'<span class="row-channel">{_e(channel or "")}</span> '
        f'<span class="row-author">{_e(str(c.contact))}</span> '
        f'<time class="row-age" datetime="{_e(c.received_at.isoformat())}">'
        f"{_e(labels.age(c.received_at, now))}</time></div>"
        f'<a class="row-snippet" href="{url}" hx-get="{url}" hx-target="#panel" '
        f'hx-swap="innerHTML" data-open-panel>{_e(snippet)}</a>'
        f'<div class="row-meta">{language} <span class="tag sentiment-{sentiment}">'
        f"{_e(labels.sentiment.get(c.sentiment, c.sentiment))}</span> {badges} "
        f'<span class="sla-slot">{_sla_badge(c, sla_template)}</span> '
        f'<span class="row-dept">{_e(department or "")}</span> '
        f'<span class="row-assignee">{_e(assignee or "")}</span> {presence}</div></div></li>'
    )


@register.simple_tag(takes_context=True)
def inbox_rows(context, conversations):
    from django.utils import timezone

    labels = _RowLabels(context.get("flag_labels"))
    now = timezone.now()
    names, viewers = context.get("names"), context.get("viewers")
    sla_template = _sla_template()
    html = "\n".join(
        _row_html(
            c, labels=labels, now=now, names=names, viewers=viewers, sla_template=sla_template
        )
        for c in conversations
    )
    return mark_safe(html)  # every value in a row is escaped by _row_html


@register.simple_tag(takes_context=True)
def inbox_row(context, c, oob=False):
    from django.utils import timezone

    return mark_safe(  # every value in the row is escaped by _row_html
        _row_html(
            c,
            labels=_RowLabels(context.get("flag_labels")),
            now=timezone.now(),
            names=context.get("names"),
            viewers=context.get("viewers"),
            oob=oob,
            sla_template=_sla_template(),
        )
    )
