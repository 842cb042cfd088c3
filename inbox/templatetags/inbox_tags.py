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
