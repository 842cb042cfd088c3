"""Template helpers of the inbox."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def flag_items(flags: int, labels: dict | None = None):
    """[(bit, label)] of the flags set, for badges; every flag's label unless labels are given."""
    if not flags:
        return []
    if labels is None:
        from inbox.models import Flag

        labels = Flag.labels()
    return [(int(bit), label) for bit, label in labels.items() if int(flags) & int(bit)]
