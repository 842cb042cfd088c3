"""The simulator's vocabulary, read once from vocabulary.toml beside this module.

Names, places, message templates and their endings are data, in Dutch and English, so they
can be tended without touching the connector's logic. The order of every list is part of the
deterministic stream: see the note at the top of vocabulary.toml.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

with Path(__file__).with_name("vocabulary.toml").open("rb") as _fh:
    _DATA: dict[str, Any] = tomllib.load(_fh)

ORG: dict[str, str] = _DATA["org"]
DEFAULT_HANDLE: dict[str, str] = _DATA["own_handle"]
IMPERSONATORS: dict[str, list[tuple[str, str]]] = {
    lang: [(handle, name) for handle, name in accounts]
    for lang, accounts in _DATA["impersonators"].items()
}
FIRST_NAMES: dict[str, list[str]] = _DATA["first_names"]
LAST_NAMES: dict[str, list[str]] = _DATA["last_names"]
WEEKDAYS: dict[str, list[str]] = _DATA["weekdays"]
# Lists for the template variables of the same name ({street}, {hood}...), and num_suffix.
WORDS: dict[str, list[Any]] = _DATA["words"]
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    (lang, kind): tuple(texts)
    for lang, kinds in _DATA["templates"].items()
    for kind, texts in kinds.items()
}
TAILS: dict[tuple[str, str], tuple[str, ...]] = {
    (lang, kind): tuple(endings)
    for lang, kinds in _DATA["tails"].items()
    for kind, endings in kinds.items()
}
