"""Template helpers of the inbox."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.translation import gettext

register = template.Library()


@register.filter
def has_flag(flags: int, bit) -> bool:
    return bool(int(flags or 0) & int(bit))


@register.filter
def flag_items(flags: int, labels: dict | None = None):
    """[(bit, label)] of the flags set, for badges; every flag's label unless labels are given."""
    if not flags:
        return []
    if labels is None:
        from inbox.models import Flag

        labels = Flag.labels()
    return [(int(bit), label) for bit, label in labels.items() if int(flags) & int(bit)]


@register.filter
def dictget(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def clip(text: str, length: int) -> str:
    """truncatechars for the list rows: cut at a code point, without truncatechars' scan of every
    character for combining marks (fifty rows a page)."""
    return text if len(text) <= length else text[: length - 1] + "…"


@register.filter
def compact_age(then) -> str:
    """How long ago, short enough for a phone row: "5 min", "3 h", "2 d"."""
    seconds = max(0, int((timezone.now() - then).total_seconds()))
    if seconds < 3600:
        return gettext("%(n)s min") % {"n": seconds // 60}
    if seconds < 86400:
        return gettext("%(n)s h") % {"n": seconds // 3600}
    return gettext("%(n)s d") % {"n": seconds // 86400}
