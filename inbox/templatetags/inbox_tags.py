"""Template helpers of the inbox."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.template.loader import get_template

register = template.Library()


@lru_cache(maxsize=32)
def _exists(name: str) -> bool:
    try:
        get_template(name)
    except template.TemplateDoesNotExist:
        return False
    return True


@register.simple_tag(takes_context=True)
def include_slot(context, name: str) -> str:
    """Include a template another part of the app provides, or nothing while it does not exist.

    The slots: "inbox/sla_badge.html" (SLA badge per row and in the panel) and
    "inbox/composer_slot.html" (the reply composer in the panel).
    """
    if not _exists(name):
        return ""
    return get_template(name).render(context.flatten(), context.get("request"))


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


@register.simple_tag
def select_options(options, current=None, empty_label=None):
    """<option>s for a hand-written <select>: Django's widget rendering costs ~1 ms per select,
    too much for a page with a 50 ms budget and a dozen selects."""
    from django.utils.html import format_html, format_html_join

    current = "" if current is None else str(current)
    head = (
        format_html('<option value="">{}</option>', empty_label) if empty_label is not None else ""
    )
    body = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if str(value) == current else "", label) for value, label in options),
    )
    return format_html("{}{}", head, body)


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


def _row_html(c, *, labels: _RowLabels, now, names=None, viewers=None, oob=False) -> str:
    """One inbox row. Built in Python, not with a template: 50 rows through the template engine
    cost ~0.7 ms each, most of the inbox page's 50 ms budget; format_html costs a tenth of that.
    Every piece of text is escaped by format_html."""
    from django.utils.html import format_html, format_html_join

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
    flags = (
        format_html_join(
            "",
            '<span class="badge flag-{}">{}</span>',
            ((bit, label) for bit, label in labels.flags if c.flags & bit),
        )
        if c.flags
        else ""
    )
    prio = (
        format_html('<span class="badge prio">{}</span>', labels.priority.get(c.priority, ""))
        if c.priority >= 2
        else ""
    )
    language = format_html('<span class="tag">{}</span>', c.language.upper()) if c.language else ""
    sla = ""
    if _exists("inbox/sla_badge.html"):
        sla = get_template("inbox/sla_badge.html").render({"c": c, "conversation": c})
    who = (viewers or {}).get(pk)
    presence = format_html('<span class="presence">👁 {}</span>', ", ".join(who)) if who else ""
    snippet = c.snippet if len(c.snippet) <= 160 else c.snippet[:159] + "…"
    return format_html(
        '<li id="conversation-{pk}" class="inbox-row prio-{prio_n} status-{status}" data-row '
        'data-id="{pk}" tabindex="-1"{oob}>'
        '<input type="checkbox" class="row-select" name="selected" value="{pk}:{version}" '
        'form="bulk-form" aria-label="{select} {pk}">'
        '<div class="row-body"><div class="row-top">'
        '<span class="row-channel">{channel}</span> <span class="row-author">{author}</span> '
        '<time class="row-age" datetime="{iso}">{age}</time></div>'
        '<a class="row-snippet" href="{url}" hx-get="{url}" hx-target="#panel" '
        'hx-swap="innerHTML" data-open-panel>{snippet}</a>'
        '<div class="row-meta">{language} <span class="tag sentiment-{sentiment}">{sentiment_label}'
        "</span> {flags}{prio} "
        '<span class="sla-slot">{sla}</span> <span class="row-dept">{department}</span> '
        '<span class="row-assignee">{assignee}</span> {presence}</div></div></li>',
        pk=pk,
        prio_n=c.priority,
        status=c.status,
        oob=format_html(' hx-swap-oob="outerHTML"') if oob else "",
        version=c.version,
        select=labels.select,
        channel=channel or "",
        author=str(c.contact),
        iso=c.received_at.isoformat(),
        age=labels.age(c.received_at, now),
        url=url,
        snippet=snippet,
        language=language,
        sentiment=c.sentiment,
        sentiment_label=labels.sentiment.get(c.sentiment, c.sentiment),
        flags=flags,
        prio=prio,
        sla=sla,
        department=department or "",
        assignee=assignee or "",
        presence=presence,
    )


@register.simple_tag(takes_context=True)
def inbox_rows(context, conversations):
    from django.utils import timezone
    from django.utils.safestring import mark_safe

    labels = _RowLabels(context.get("flag_labels"))
    now = timezone.now()
    names, viewers = context.get("names"), context.get("viewers")
    html = "\n".join(
        _row_html(c, labels=labels, now=now, names=names, viewers=viewers) for c in conversations
    )
    return mark_safe(html)  # every row is format_html output


@register.simple_tag(takes_context=True)
def inbox_row(context, c, oob=False):
    from django.utils import timezone

    return _row_html(
        c,
        labels=_RowLabels(context.get("flag_labels")),
        now=timezone.now(),
        names=context.get("names"),
        viewers=context.get("viewers"),
        oob=oob,
    )
