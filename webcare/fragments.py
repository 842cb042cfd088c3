"""Rendered fragments reused while their inputs stay the same: a per-process store for markup
rendered many times a minute (selects, inbox rows) under a key that holds every input of it.
In the process, not in Redis: a frozen Redis must not hold up a page, and a restart (a deploy,
a new template) empties the store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from django import forms
from django.utils.translation import get_language


def choices_key(*choice_lists: Iterable[tuple[object, object]]) -> str:
    """A digest of every value and label of the lists (labels in the active language): equal
    keys mean equal markup, so a cached fragment is never stale about its data."""
    digest = hashlib.blake2b(get_language().encode(), digest_size=16)
    for choices in choice_lists:
        for value, label in choices:
            digest.update(f"{value}\x1f{label}\x1e".encode())
        digest.update(b"\x1d")
    return digest.hexdigest()


_kept: dict[str, str] = {}
MAX_KEPT = 4096  # distinct fragments kept by a process (a few MB); then the store starts over


def reused(key: str, render: Callable[[], str]) -> str:
    """The fragment kept under key by this process, rendered now if it is not kept yet. The key
    must hold every input of the markup; a restart (a deploy, a new template) empties the store."""
    html = _kept.get(key)
    if html is None:
        html = render()
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key] = html
    return html


class ReusedSelect(forms.Select):
    """Django's Select, rendered by its template (templates/django/forms/widgets/select.html)
    once per distinct name, value, attributes, choices and language, then reused by this
    process: the triage panel's selects list every active user and team, several ms through the
    template engine on every look at a conversation. The key holds every input of the markup,
    so a reused render is never stale; a restart (a deploy) empties it."""

    def render(self, name, value, attrs=None, renderer=None):
        key = choices_key(
            [("select", name), ("value", self.format_value(value))],
            sorted(self.build_attrs(self.attrs, attrs).items()),
            self.choices,
        )
        return reused(key, lambda: super(ReusedSelect, self).render(name, value, attrs, renderer))
