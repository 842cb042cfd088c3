"""The simulator's vocabulary, read once from vocabulary.toml beside this module.

Names, places, message templates and their endings are data, in Dutch and English, so they
can be tended without touching the connector's logic. The order of every list is part of the
deterministic stream: see the note at the top of vocabulary.toml.
"""

from __future__ import annotations

import random
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
# The same per platform style: "chat" for private chats (and e-mail), "comment" for comments
# under our own posts (see platforms.py).
STYLE_TEMPLATES: dict[tuple[str, str, str], tuple[str, ...]] = {
    (style, lang, kind): tuple(texts)
    for style in ("chat", "comment")
    for lang, kinds in _DATA[style].items()
    for kind, texts in kinds.items()
}


class Vars(dict[str, Any]):
    """Template variables drawn on first use: a template only pays for what it names, and
    the draws stay deterministic because a template always names them in the same order."""

    def __init__(self, rng: random.Random, lang: str, handle: str):
        super().__init__(org=ORG[lang], handle=handle)
        self.rng, self.lang = rng, lang

    def __missing__(self, key: str) -> Any:
        rng, nl = self.rng, self.lang == "nl"
        draw: dict[str, Any] = {
            "street": lambda: rng.choice(WORDS["street"]),
            "num": lambda: f"{rng.randint(1, 240)}{rng.choice(WORDS['num_suffix'])}",
            "hood": lambda: rng.choice(WORDS["hood"]),
            "appliance": lambda: rng.choice(WORDS["appliance"]),
            "defect": lambda: rng.choice(WORDS["defect"]),
            "days": lambda: rng.randint(2, 21),
            "weeks": lambda: rng.randint(3, 14),
            "hours": lambda: rng.randint(2, 6),
            "hour": lambda: rng.randint(13, 17),
            "pct": lambda: rng.choice(WORDS["pct"]),
            "ticket": lambda: f"{'M' if nl else 'CAS-'}{rng.randint(100000, 999999)}",
            "money": lambda: rng.choice(WORDS["money"]),
            "url": lambda: rng.choice(WORDS["url"]),
            "party": lambda: rng.choice(WORDS["party"]),
            "flight": lambda: f"NS{rng.randint(100, 1999)}",
            "airport": lambda: rng.choice(WORDS["airport"]),
            "bag": lambda: rng.choice(WORDS["bag"]),
            "day": lambda: rng.choice(WEEKDAYS[self.lang]),
            "tagged": lambda: rng.choice(WORDS["tagged"]),
            # The personal details of private chats (shapes.py).
            "postcode": lambda: (
                f"30{rng.randint(11, 89)} {rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
                f"{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
            ),
            "contract": lambda: f"HC-{rng.randint(2004, 2025)}-{rng.randint(10000, 99999)}",
            "booking": lambda: "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in "123456"
            ),
            "phone": lambda: (
                f"06-{rng.randint(10000000, 99999999)}"
                if nl
                else f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
            ),
        }
        value = self[key] = draw[key]()
        return value
