"""Keys for caching rendered fragments ({% cache %}) that depend only on lists of choices."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

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
