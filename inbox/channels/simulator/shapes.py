"""What the simulator's messages look like when it plays a platform (platforms.py).

The connector plans the slots (when each message comes, and its id in the plan); this module
builds a slot's message as the platform would deliver it: a private chat, a comment under our
own post, an e-mail, or an X post with X's ids and URLs. It draws from the same seeded
generator as the connector, so the stream stays a pure function of (seed, minute, index), and
a follow-up names its parent by rebuilding it (SimulatorConnector._pick_parent) rather than
by stored state. Texts come from vocabulary.toml ([chat.*] and [comment.*]).

`sim` is the SimulatorConnector (not imported: it imports this module).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from inbox.channels.base import IncomingMessage
from inbox.channels.simulator import platforms
from inbox.channels.simulator.vocabulary import STYLE_TEMPLATES, Vars

# Share of messages that answer an earlier one (on every platform: the first draw decides).
REPLY_SHARE = 0.25

# How often each kind comes (relative weights); the texts per kind are in vocabulary.toml.
CHAT_KINDS = (("question", 40), ("complaint", 35), ("details", 15), ("praise", 10))
# A message in a chat the customer opened earlier: often the details we would ask for.
CHAT_FOLLOW_KINDS = (("details", 45), ("follow_up", 40), ("praise", 15))
COMMENT_KINDS = (
    ("question", 30),
    ("complaint", 25),
    ("praise", 14),
    ("other", 9),
    ("spam", 8),
    ("political", 6),
    ("threat", 3),
    ("impersonation", 2),
)
COMMENT_REPLY_KINDS = (("follow_up", 45), ("chime_in", 42), ("abuse", 9), ("threat", 4))

_AUTHOR_FIELDS = (
    "author_id",
    "author_handle",
    "author_name",
    "author_avatar_url",
    "author_profile_url",
)


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    pick = rng.random() * sum(w for _, w in options)
    for name, weight in options:
        pick -= weight
        if pick < 0:
            return name
    return options[-1][0]


def build(sim: Any, cfg: Any, minute: int, position: int, slot_id: str, created_at) -> Any:
    """The message of a planned slot on a chat, comment or mail platform."""
    rng, _ = sim._message_rng(cfg, minute, position)
    parent = None
    if rng.random() < REPLY_SHARE:  # the same first draw as SimulatorConnector._is_top_level
        parent = sim._pick_parent(cfg, rng, minute)
    style = platforms.PLATFORMS[cfg.platform].style
    if style == "comment":
        return _comment(sim, cfg, rng, slot_id, minute, created_at, parent)
    return _private(sim, cfg, rng, slot_id, created_at, parent, mail=style == "mail")


def _text(rng: random.Random, style: str, lang: str, kind: str, handle: str, p: str) -> str:
    template = rng.choice(STYLE_TEMPLATES[(style, lang, kind)])
    return platforms.clamp(p, template.format_map(Vars(rng, lang, handle)))


def _customer(sim: Any, cfg: Any, rng: random.Random, lang: str, kind: str) -> dict[str, str]:
    """A new author as the platform names them."""
    p = cfg.platform
    author = sim._kind_author(cfg, rng, lang, kind)
    customer = platforms.user_id(p, author["author_id"])
    handle = author["author_handle"]
    if p == "whatsapp":
        handle = f"+{customer}"
    elif p == "email":
        local = handle.lstrip("@").replace("_", ".")
        domain = "example.nl" if lang == "nl" else "example.com"
        customer = f"{local}.{platforms.number(author['author_id'], digits=3)}@{domain}"
        handle = customer
    elif p in ("messenger", "facebook", "linkedin"):
        handle = ""  # these platforms show a name, no handle
    elif p in ("instagram", "instagram_direct"):
        handle = handle.lstrip("@")
    return {
        "author_id": customer,
        "author_handle": handle,
        "author_name": author["author_name"],
        "author_avatar_url": "",
        "author_profile_url": platforms.profile_url(p, handle, customer),
    }


def _private(
    sim: Any,
    cfg: Any,
    rng: random.Random,
    slot_id: str,
    created_at,
    parent: IncomingMessage | None,
    *,
    mail: bool,
) -> IncomingMessage:
    p = cfg.platform
    if parent is not None:
        lang, kind = parent.raw["lang"], _weighted(rng, CHAT_FOLLOW_KINDS)
        author = {k: getattr(parent, k) for k in _AUTHOR_FIELDS}  # the customer writes again
    else:
        lang = sim._language(cfg, rng)
        kind = _weighted(rng, CHAT_KINDS)
        author = _customer(sim, cfg, rng, lang, kind)
    external_id = platforms.message_id(p, slot_id)
    if mail:  # a thread per first mail; an answer names the mail it answers
        thread = parent.conversation_external_id if parent else external_id
    else:  # one chat per customer, whatever they write about
        thread = platforms.thread_key(p, cfg.tag, author["author_id"])
    return IncomingMessage(
        external_id=external_id,
        text=_text(rng, "chat", lang, kind, cfg.handles[lang], p),
        created_at=created_at,
        **author,
        parent_external_id=parent.external_id if parent and mail else "",
        conversation_external_id=thread,
        is_public=False,
        raw={"simulated": True, "platform": p, "kind": kind, "lang": lang, "burst": None},
    )


def _comment(
    sim: Any,
    cfg: Any,
    rng: random.Random,
    slot_id: str,
    minute: int,
    created_at,
    parent: IncomingMessage | None,
) -> IncomingMessage:
    p = cfg.platform
    if parent is not None:
        lang, kind, post = (
            parent.raw["lang"],
            _weighted(rng, COMMENT_REPLY_KINDS),
            parent.raw["post"],
        )
        author = (
            {k: getattr(parent, k) for k in _AUTHOR_FIELDS}
            if kind == "follow_up"
            else _customer(sim, cfg, rng, lang, kind)
        )
    else:
        lang = sim._language(cfg, rng)
        kind = _weighted(rng, COMMENT_KINDS)
        post = platforms.post_of(p, cfg.tag, minute)
        author = _customer(sim, cfg, rng, lang, kind)
    comment = platforms.comment_id(p, slot_id, post, parent.external_id if parent else "")
    return IncomingMessage(
        external_id=comment,
        text=_text(rng, "comment", lang, kind, cfg.handles[lang], p),
        created_at=created_at,
        **author,
        parent_external_id=parent.external_id if parent else "",
        # A top-level comment opens its own thread; a reply joins it.
        conversation_external_id=parent.conversation_external_id if parent else comment,
        url=platforms.comment_url(p, post, comment),
        is_public=True,
        raw={
            "simulated": True,
            "platform": p,
            "kind": kind,
            "lang": lang,
            "post": post,
            "burst": None,
        },
    )


def as_post(cfg: Any, message: IncomingMessage) -> IncomingMessage:
    """Today's public post with the ids, URLs and length of the platform (X)."""
    p = cfg.platform

    def remap(simulated_id: str) -> str:
        return platforms.message_id(p, simulated_id) if simulated_id else ""

    external_id = remap(message.external_id)
    handle = message.author_handle.lstrip("@")
    return dataclasses.replace(
        message,
        external_id=external_id,
        parent_external_id=remap(message.parent_external_id),
        conversation_external_id=remap(message.conversation_external_id),
        author_id=platforms.user_id(p, message.author_id),
        author_avatar_url="",
        author_profile_url=platforms.profile_url(p, handle, ""),
        url=f"https://x.com/{handle}/status/{external_id}",
        text=platforms.clamp(p, message.text),
        is_public=True,  # a direct message is the x_dm platform
        raw={**message.raw, "platform": p},
    )
