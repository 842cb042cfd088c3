"""Rendered fragments reused while their inputs stay the same: keys for {% cache %} over lists of
choices, and a select widget that keeps its markup."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django import forms
from django.utils.translation import get_language

# Long enough to matter, short enough that a deploy that changes the fragment's template is
# seen within minutes (the key holds the data and the language, not the template).
FRAGMENT_SECONDS = 300


def choices_key(*choice_lists: Iterable[tuple[object, object]]) -> str:
    """A digest of every value and label of the lists (labels in the active language): equal
    keys mean equal markup, so a cached fragment is never stale about its data."""
    digest = hashlib.blake2b(get_language().encode(), digest_size=16)
    for choices in choice_lists:
        for value, label in choices:
            digest.update(f"{value}\x1f{label}\x1e".encode())
        digest.update(b"\x1d")
    return digest.hexdigest()


class ReusedSelect(forms.Select):
    """Django's Select, rendered by its template (templates/django/forms/widgets/select.html)
    once per distinct name, value, attributes, choices and language, then reused by this
    process: the triage panel's selects list every active user and team, several ms through the
    template engine on every look at a conversation. The key holds every input of the markup,
    so a reused render is never stale; a restart (a deploy) empties it."""

    _rendered: dict[str, str] = {}
    MAX_KEPT = 512  # distinct renders kept; then the store starts over

    def render(self, name, value, attrs=None, renderer=None):
        digest = choices_key(
            [(name, self.format_value(value))],
            sorted(self.build_attrs(self.attrs, attrs).items()),
            self.choices,
        )
        html = self._rendered.get(digest)
        if html is None:
            html = super().render(name, value, attrs, renderer)
            if len(self._rendered) >= self.MAX_KEPT:
                self._rendered.clear()
            self._rendered[digest] = html
        return html
