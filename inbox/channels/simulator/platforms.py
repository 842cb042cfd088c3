"""The platforms the simulator can play (the channel setting "platform"): the one list of them,
and how each looks: its style of conversation, its length limit, its ids and its URLs.

Styles:
- "post": public posts and replies, threaded under the post they answer (X).
- "chat": a private one-to-one chat, one conversation per customer, keyed as the real
  connector keys it (WhatsApp "wa:<number>:<wa_id>", Messenger "fbm:<page>:<psid>", Instagram
  Direct "igd:<account>:<igsid>", X DMs "dm:<user id>").
- "comment": comments under our own posts or videos; a top-level comment opens its own
  thread and replies join it (as inbox/channels/meta/messages.py threads real comments).
- "mail": private e-mail, a thread per first mail.

Every id here is a pure function of the simulator's own id for the slot, so the stream stays
a pure function of (seed, minute, index) whatever platform it plays.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from django.utils.translation import gettext_lazy as _

from inbox.lib import replytext

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Platform(NamedTuple):
    label: StrOrPromise
    style: str
    limit: int | None  # characters, where replytext.LIMITS has none for the kind


PLATFORMS: dict[str, Platform] = {
    "x": Platform("X", "post", None),
    "facebook": Platform("Facebook", "comment", None),
    "instagram": Platform("Instagram", "comment", None),
    "whatsapp": Platform("WhatsApp", "chat", None),
    "messenger": Platform("Messenger", "chat", 2000),
    "instagram_direct": Platform(_("Instagram Direct"), "chat", 1000),
    "x_dm": Platform(_("X direct messages"), "chat", 10_000),
    "linkedin": Platform("LinkedIn", "comment", 1250),
    "youtube": Platform("YouTube", "comment", 10_000),
    "email": Platform(_("E-mail"), "mail", None),
}


def limit_of(platform: str) -> int | None:
    """The platform's length limit: replytext's where it has one (it is what the composer
    enforces), else the platform's documented one."""
    return replytext.limit_for(platform) or PLATFORMS[platform].limit


def clamp(platform: str, text: str) -> str:
    """text cut at a word so that it fits the platform's limit (as the platform counts)."""
    limit = limit_of(platform)
    if limit is None or replytext.measure(platform, text) <= limit:
        return text
    while text and replytext.measure(platform, text + "…") > limit:
        text = text.rsplit(" ", 1)[0] if " " in text.strip() else text[:-1]
    return text + "…"


# ---- ids that look like the platform's own


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode()).digest()


def number(*parts: str, digits: int) -> str:
    """A decimal id of exactly `digits` digits (no leading zero)."""
    value = int.from_bytes(_digest(*parts)[:16], "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


def token(*parts: str, length: int) -> str:
    return base64.urlsafe_b64encode(_digest(*parts)).decode().rstrip("=")[:length]


def account_id(platform: str, tag: str) -> str:
    """Our own account on the platform: phone number id, page id, Instagram account id."""
    return number("account", platform, tag, digits=15)


def user_id(platform: str, simulated_author_id: str) -> str:
    """The customer's id as the platform gives it, for the simulator's author id."""
    if platform == "whatsapp":
        # A Dutch mobile number (316 and 8 digits) or a British one (447 and 9 digits).
        if "-en-" in simulated_author_id:
            return "447" + number("wa", simulated_author_id, digits=9)
        return "316" + number("wa", simulated_author_id, digits=8)
    if platform == "linkedin":
        return "urn:li:person:" + token("li", simulated_author_id, length=10)
    if platform == "youtube":
        return "UC" + token("yt", simulated_author_id, length=22)
    if platform == "email":
        return simulated_author_id  # the address is made from the name (shapes.py)
    digits = {"x": 18, "x_dm": 18, "instagram": 17, "instagram_direct": 17}.get(platform, 16)
    return number(platform, simulated_author_id, digits=digits)


def thread_key(platform: str, tag: str, customer: str) -> str:
    """A chat's conversation key, as the real connector makes it."""
    prefix = {"whatsapp": "wa", "messenger": "fbm", "instagram_direct": "igd"}.get(platform)
    if prefix is None:  # X DMs live on the X channel itself, keyed by the customer's user id
        return f"dm:{customer}"
    return f"{prefix}:{account_id(platform, tag)}:{customer}"


def message_id(platform: str, slot_id: str) -> str:
    if platform == "whatsapp":
        return "wamid.HBgL" + token("wamid", slot_id, length=40)
    if platform == "messenger":
        return "m_" + token("mid", slot_id, length=40)
    if platform == "instagram_direct":
        return "aWdfZAG1faXRlbToxOklH" + token("igd", slot_id, length=30)
    if platform == "email":
        return f"<sim.{token('mail', slot_id, length=16)}@mail.webcare.invalid>"
    return number(platform, slot_id, digits=19)  # X tweets and DM events


def post_of(platform: str, tag: str, minute: int) -> str:
    """Our own post (video) a comment sits under: a new one every two hours."""
    key = (tag, str(minute // 120))
    if platform == "facebook":
        return f"{account_id(platform, tag)}_{number('post', *key, digits=16)}"
    if platform == "instagram":
        return number("media", *key, digits=17)
    if platform == "linkedin":
        return "urn:li:activity:" + number("activity", *key, digits=19)
    return token("video", *key, length=11)  # a YouTube video id


def comment_id(platform: str, slot_id: str, post: str, parent: str) -> str:
    if platform == "facebook":
        return f"{post.split('_')[-1]}_{number('c', slot_id, digits=16)}"
    if platform == "instagram":
        return number("c", slot_id, digits=17)
    if platform == "linkedin":
        return f"urn:li:comment:({post},{number('c', slot_id, digits=19)})"
    # YouTube: a top-level comment is its thread's id; a reply is "<thread id>.<own id>".
    own = "Ugz" + token("c", slot_id, length=20) + "4AaABAg"
    return f"{parent}.{token('r', slot_id, length=22)}" if parent else own


def comment_url(platform: str, post: str, comment: str) -> str:
    if platform == "facebook":
        page, _, item = post.partition("_")
        return f"https://www.facebook.com/{page}/posts/{item}?comment_id={comment}"
    if platform == "instagram":
        return f"https://www.instagram.com/p/{token('sc', post, length=11)}/c/{comment}/"
    if platform == "linkedin":
        return f"https://www.linkedin.com/feed/update/{post}/?commentUrn={quote(comment, safe='')}"
    return f"https://www.youtube.com/watch?v={post}&lc={comment}"


def profile_url(platform: str, handle: str, customer: str) -> str:
    handle = handle.lstrip("@")
    return {
        "x": f"https://x.com/{handle}",
        "x_dm": f"https://x.com/{handle}",
        "facebook": f"https://www.facebook.com/{customer}",
        "instagram": f"https://www.instagram.com/{handle}/",
        "instagram_direct": f"https://www.instagram.com/{handle}/",
        "linkedin": f"https://www.linkedin.com/in/{handle}",
        "youtube": f"https://www.youtube.com/channel/{customer}",
    }.get(platform, "")
