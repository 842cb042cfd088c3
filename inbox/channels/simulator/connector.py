"""A simulated social platform for the demo and the load tests.

fetch() streams realistic Dutch mentions of a housing corporation ("Woonstad") and English
mentions of an airline ("NorthSea Air"): questions, complaints, praise, threats, spam,
political remarks, an impersonator account, replies in threads, our own posts, and now
and then a viral burst (hundreds of comments under one post within minutes).
The names, places and message templates are data, in vocabulary.toml (read by
vocabulary.py); this module is the logic that draws from them.

Everything is a pure function of (seed, minute, index): the minute's message count and
timestamps come from a generator seeded with (seed, minute), each message's content from
one seeded with (seed, minute, index). So the same seed and clock give the same ids and
texts, a replayed poll creates nothing new, and a message can point at a parent in an
earlier minute without any stored state. Time comes from django.utils.timezone.now, so
time-machine can freeze and move it in tests.

Settings (ChannelConfig.settings): seed (default: the channel id), rate_per_minute
(default 6; 30,000 gives the 500 messages/s of the load benchmark), burst_chance (chance a
minute starts a viral burst, default 0.01), language_mix ({"nl": 0.6, "en": 0.4}),
max_per_fetch (default 5,000), backlog_minutes (how far back a first or late poll reaches,
default 10), handle_nl / handle_en (our own accounts; default the channel's own_handles),
platform (which platform the stream looks like, one of platforms.PLATFORMS: private chats,
comments under our posts, e-mail or X posts, built by shapes.py; default: these public posts).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.utils import timezone

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)
from inbox.channels.simulator import platforms, shapes
from inbox.channels.simulator.shapes import REPLY_SHARE
from inbox.channels.simulator.vocabulary import (
    DEFAULT_HANDLE,
    FIRST_NAMES,
    IMPERSONATORS,
    LAST_NAMES,
    ORG,
    TAILS,
    TEMPLATES,
)
from inbox.channels.simulator.vocabulary import Vars as _Vars

BASE_URL = "https://sim.webcare.invalid"
REPLY_LOOKBACK_MINUTES = 45
BURST_MAX_MINUTES = 8
AUTHOR_POOL = 4000  # per language: authors come back, so contacts get a history

# How often each kind of message comes, as relative weights (the templates per kind are in
# vocabulary.toml): a top-level post, a reply under one, a comment under a burst.
TOP_LEVEL_KINDS = (
    ("question", 30),
    ("complaint", 25),
    ("praise", 12),
    ("other", 9),
    ("spam", 8),
    ("political", 6),
    ("threat", 3),
    ("own", 3),
    ("impersonation", 2),
)
REPLY_KINDS = (("follow_up", 45), ("chime_in", 42), ("abuse", 9), ("threat", 4))
BURST_KINDS = (("chime_in", 50), ("complaint", 25), ("abuse", 15), ("threat", 4), ("praise", 6))


# --------------------------------------------------------------------------- plumbing


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # the normal approximation is accurate here and O(1)
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in options)
    pick = rng.random() * total
    for name, weight in options:
        pick -= weight
        if pick < 0:
            return name
    return options[-1][0]


def _minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


class _Slot(NamedTuple):
    created_at: datetime
    external_id: str
    minute: int
    position: int  # in its minute (or burst); not "index", which would hide tuple.index
    burst: int | None  # the burst's start minute for a burst comment, else None
    burst_root: bool


class _Settings:
    def __init__(self, channel: ChannelConfig):
        s = channel.settings
        self.seed = str(s.get("seed", channel.id))
        self.tag = hashlib.sha1(self.seed.encode()).hexdigest()[:6]
        self.rate = float(s.get("rate_per_minute", 6))
        # Which platform the stream plays (platforms.PLATFORMS); none: today's public posts.
        self.platform = str(s.get("platform") or "")
        if self.platform and self.platform not in platforms.PLATFORMS:
            raise ConnectorError(f"Unknown platform {self.platform!r}", transient=False)
        self.style = platforms.PLATFORMS[self.platform].style if self.platform else "post"
        # A viral burst is hundreds of replies under one post: only where posts are answered.
        self.burst_chance = float(s.get("burst_chance", 0.01)) if self.style == "post" else 0.0
        mix = s.get("language_mix") or {"nl": 0.6, "en": 0.4}
        self.languages = tuple((lang, float(w)) for lang, w in mix.items() if lang in ORG and w)
        if not self.languages:
            raise ConnectorError("language_mix needs 'nl' and/or 'en'", transient=False)
        self.max_per_fetch = max(1, int(s.get("max_per_fetch", 5000)))
        self.backlog = timedelta(minutes=float(s.get("backlog_minutes", 10)))
        own = [h for h in channel.own_handles if h]
        self.handles = {
            "nl": s.get("handle_nl") or (own[0] if own else DEFAULT_HANDLE["nl"]),
            "en": s.get("handle_en") or (own[1] if len(own) > 1 else DEFAULT_HANDLE["en"]),
        }


class SimulatorConnector:
    can_reply = True
    can_reply_privately = True
    can_hide = True
    max_length: int | None = None

    # Replies and hides of this process (the simulator is the platform). Bounded: a demo
    # running for weeks must not grow without limit.
    _posted: OrderedDict[str, None] = OrderedDict()
    _hidden: dict[str, bool] = {}
    _MEMORY = 50_000
    # The sorted slots of recent minutes. A minute's plan is a pure function of the settings
    # and the minute, and at 30,000 a minute rebuilding it on every one-second poll cost
    # more CPU than ingesting the messages; a poll now only pays for the slots it returns.
    _minute_plans: OrderedDict[tuple[Any, ...], list[_Slot]] = OrderedDict()
    _PLANS_KEPT = 4

    # ---- the deterministic plan

    def _rng(self, cfg: _Settings, *parts: object) -> random.Random:
        return random.Random("|".join([cfg.seed, *map(str, parts)]))

    def _message_rng(self, cfg: _Settings, minute: int, index: int) -> tuple[random.Random, int]:
        """A message's own generator and its first draw, the microsecond within its minute.

        Each message draws its own time, so a reply can name and date a parent in an
        earlier minute without generating that whole minute (at 30,000 a minute that
        would be quadratic).
        """
        rng = self._rng(cfg, minute, index)
        return rng, rng.randrange(60_000_000)

    def _normal_slot(self, cfg: _Settings, minute: int, index: int) -> _Slot:
        _, offset = self._message_rng(cfg, minute, index)
        return _Slot(
            _minute_start(minute) + timedelta(microseconds=offset),
            f"sim-{cfg.tag}-{minute}-{index}",
            minute,
            index,
            None,
            False,
        )

    def _minute_count(self, cfg: _Settings, minute: int) -> int:
        return _poisson(self._rng(cfg, "m", minute), cfg.rate)

    def _burst(self, cfg: _Settings, start: int) -> tuple[int, float] | None:
        """(duration in minutes, comments per minute) if a burst starts in this minute."""
        if cfg.burst_chance <= 0:
            return None
        rng = self._rng(cfg, "b", start)
        if rng.random() >= cfg.burst_chance:
            return None
        duration = rng.randint(3, BURST_MAX_MINUTES)
        return duration, rng.randint(150, 900) / duration

    def _slots(self, cfg: _Settings, minute: int) -> list[_Slot]:
        key = (cfg.seed, cfg.rate, cfg.burst_chance, minute)
        plans = type(self)._minute_plans
        slots = plans.get(key)
        if slots is None:
            slots = plans[key] = self._plan_minute(cfg, minute)
            while len(plans) > self._PLANS_KEPT:
                plans.popitem(last=False)
        return slots

    def _plan_minute(self, cfg: _Settings, minute: int) -> list[_Slot]:
        start = _minute_start(minute)
        slots = [self._normal_slot(cfg, minute, i) for i in range(self._minute_count(cfg, minute))]
        for age in range(BURST_MAX_MINUTES):
            burst_start = minute - age
            burst = self._burst(cfg, burst_start)
            if burst is None or age >= burst[0]:
                continue
            if age == 0:
                slots.append(
                    _Slot(start, f"sim-{cfg.tag}-b{burst_start}", minute, 0, burst_start, True)
                )
            rng = self._rng(cfg, "bm", burst_start, age)
            offsets = sorted(rng.randrange(1, 60_000_000) for _ in range(_poisson(rng, burst[1])))
            slots.extend(
                _Slot(
                    start + timedelta(microseconds=o),
                    f"sim-{cfg.tag}-b{burst_start}-{age}-{i}",
                    minute,
                    i,
                    burst_start,
                    False,
                )
                for i, o in enumerate(offsets)
            )
        slots.sort(key=lambda s: (s.created_at, s.external_id))
        return slots

    def _is_top_level(self, cfg: _Settings, minute: int, index: int) -> bool:
        rng, _ = self._message_rng(cfg, minute, index)
        return rng.random() >= REPLY_SHARE

    # ---- fetch

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """Messages with (created_at, id) after the cursor and created_at <= now, oldest first."""
        cfg = _Settings(channel)
        now = timezone.now()
        floor = now - cfg.backlog
        after: tuple[datetime, str] | None = None
        try:
            if cursor.get("last_time"):
                after = (
                    datetime.fromisoformat(cursor["last_time"]),
                    str(cursor.get("last_id", "")),
                )
        except (TypeError, ValueError):
            after = None  # a damaged cursor: start over from the backlog (ids make it harmless)
        if after is None or after[0] < floor:
            # A first poll, or a poll after a long outage: the simulator only keeps a backlog.
            after = (floor, "")
        messages: list[IncomingMessage] = []
        position = after
        for slot in self._slots_between(cfg, after, now):
            if len(messages) >= cfg.max_per_fetch:
                break
            message = self._message(cfg, slot)
            if cfg.platform and cfg.style == "post":
                message = shapes.as_post(cfg, message)
            messages.append(message)
            position = (slot.created_at, slot.external_id)
        if not messages and now > position[0]:
            position = (now, "")  # everything up to now was scanned and nothing was there
        return FetchResult(
            messages=messages,
            cursor={"last_time": position[0].isoformat(), "last_id": position[1]},
        )

    def _slots_between(
        self, cfg: _Settings, after: tuple[datetime, str], now: datetime
    ) -> Iterator[_Slot]:
        minute = math.floor(after[0].timestamp() / 60)
        last_minute = math.floor(now.timestamp() / 60)
        while minute <= last_minute:
            slots = self._slots(cfg, minute)
            # Sorted by (created_at, external_id): skip what the cursor has seen by bisection.
            first = bisect.bisect_right(slots, after, key=lambda s: (s.created_at, s.external_id))
            for slot in itertools.islice(slots, first, None):
                if slot.created_at > now:
                    return
                yield slot
            minute += 1

    # ---- one message

    def _author(self, cfg: _Settings, lang: str, index: int) -> dict[str, str]:
        rng = self._rng(cfg, "a", lang, index)
        first, last = rng.choice(FIRST_NAMES[lang]), rng.choice(LAST_NAMES[lang])
        style = rng.randrange(4)
        base = (first + last.split()[-1]).lower().replace("'", "")
        handle = {
            0: f"@{base}",
            1: f"@{first.lower()}_{rng.randint(70, 99)}",
            2: f"@{base}{rng.randint(1, 999)}",
            3: f"@{first[0].lower()}{last.split()[-1].lower().replace(chr(39), '')}",
        }[style]
        return {
            "author_id": f"simuser-{cfg.tag}-{lang}-{index}",
            "author_handle": handle,
            "author_name": f"{first} {last}",
        }

    def _language(self, cfg: _Settings, rng: random.Random) -> str:
        return _weighted(rng, cfg.languages)

    def _message(self, cfg: _Settings, slot: _Slot) -> IncomingMessage:
        if cfg.style != "post":
            return shapes.build(
                self, cfg, slot.minute, slot.position, slot.external_id, slot.created_at
            )
        if slot.burst is not None:
            return self._burst_message(cfg, slot)
        rng, _ = self._message_rng(cfg, slot.minute, slot.position)
        is_reply = rng.random() < REPLY_SHARE  # the same draw as _is_top_level
        parent: IncomingMessage | None = None
        if is_reply:
            parent = self._pick_parent(cfg, rng, slot.minute)
        if parent is not None:
            lang = parent.raw["lang"]
            kind = _weighted(rng, REPLY_KINDS)
            if parent.is_own and kind == "follow_up":
                kind = "chime_in"  # nobody "follows up" on our own announcement
            author = (
                {k: getattr(parent, k) for k in ("author_id", "author_handle", "author_name")}
                if kind == "follow_up"
                else self._author(cfg, lang, rng.randrange(AUTHOR_POOL))
            )
            return self._build(cfg, rng, slot, lang, kind, author, parent=parent)
        lang = self._language(cfg, rng)
        kind = _weighted(rng, TOP_LEVEL_KINDS)
        return self._build(cfg, rng, slot, lang, kind, self._kind_author(cfg, rng, lang, kind))

    def _kind_author(
        self, cfg: _Settings, rng: random.Random, lang: str, kind: str
    ) -> dict[str, str]:
        if kind == "own":
            return {
                "author_id": f"simown-{cfg.tag}-{lang}",
                "author_handle": cfg.handles[lang],
                "author_name": ORG[lang],
            }
        if kind == "impersonation":
            handle, name = rng.choice(IMPERSONATORS[lang])
            return {
                "author_id": f"simfake-{cfg.tag}-{handle.lstrip('@').lower()}",
                "author_handle": handle,
                "author_name": name,
            }
        return self._author(cfg, lang, rng.randrange(AUTHOR_POOL))

    def _pick_parent(
        self, cfg: _Settings, rng: random.Random, minute: int
    ) -> IncomingMessage | None:
        """A top-level post from the last REPLY_LOOKBACK_MINUTES, or None (then top-level)."""
        for _ in range(3):
            earlier = minute - rng.randint(1, REPLY_LOOKBACK_MINUTES)
            count = self._minute_count(cfg, earlier)
            if not count:
                continue
            index = rng.randrange(count)
            if not self._is_top_level(cfg, earlier, index):
                continue
            slot = self._normal_slot(cfg, earlier, index)
            parent = self._message(cfg, slot)
            if parent.raw["kind"] != "spam":  # nobody answers spam
                return parent
        return None

    def _burst_message(self, cfg: _Settings, slot: _Slot) -> IncomingMessage:
        assert slot.burst is not None
        root_rng = self._rng(cfg, "br", slot.burst)
        lang = self._language(cfg, root_rng)
        ours = root_rng.random() < 0.5  # our own unlucky letter, or a customer's viral post
        root_author = (
            self._kind_author(cfg, root_rng, lang, "own")
            if ours
            else self._author(cfg, lang, root_rng.randrange(AUTHOR_POOL))
        )
        root_slot = _Slot(
            _minute_start(slot.burst),
            f"sim-{cfg.tag}-b{slot.burst}",
            slot.burst,
            0,
            slot.burst,
            True,
        )
        kind = "burst_own" if ours else "burst_viral"
        root = self._build(cfg, root_rng, root_slot, lang, kind, root_author, own=ours)
        if slot.burst_root:
            return root
        return self._burst_comment(cfg, slot, lang, root)

    def _burst_comment(
        self, cfg: _Settings, slot: _Slot, lang: str, root: IncomingMessage
    ) -> IncomingMessage:
        rng = self._rng(cfg, slot.external_id)
        kind = _weighted(rng, BURST_KINDS)
        if kind == "chime_in" and not root.is_own and rng.random() < 0.3:
            kind = "complaint"  # piling on under a customer's viral post
        author = self._author(cfg, lang, rng.randrange(AUTHOR_POOL))
        return self._build(cfg, rng, slot, lang, kind, author, parent=root)

    def staged_burst(
        self,
        channel: ChannelConfig,
        *,
        start: datetime,
        minutes: int,
        per_minute: float,
        lang: str = "nl",
    ) -> list[IncomingMessage]:
        """A burst like the live stream's, under our own unlucky post, at a moment the caller
        picks (the demo's history stages one): the post at `start`, then about per_minute
        comments a minute for `minutes` minutes. Deterministic in (seed, start)."""
        cfg = _Settings(channel)
        first = math.floor(start.timestamp() / 60)
        rng = self._rng(cfg, "staged", first)
        root_slot = _Slot(_minute_start(first), f"sim-{cfg.tag}-s{first}", first, 0, first, True)
        author = self._kind_author(cfg, rng, lang, "own")
        root = self._build(cfg, rng, root_slot, lang, "burst_own", author, own=True)
        out = [root]
        for age in range(minutes):
            minute_rng = self._rng(cfg, "staged", first, age)
            count = _poisson(minute_rng, per_minute)
            offsets = sorted(minute_rng.randrange(1, 60_000_000) for _ in range(count))
            for index, offset in enumerate(offsets):
                slot = _Slot(
                    _minute_start(first + age) + timedelta(microseconds=offset),
                    f"sim-{cfg.tag}-s{first}-{age}-{index}",
                    first + age,
                    index,
                    first,
                    False,
                )
                out.append(self._burst_comment(cfg, slot, lang, root))
        return out

    def _build(
        self,
        cfg: _Settings,
        rng: random.Random,
        slot: _Slot,
        lang: str,
        kind: str,
        author: dict[str, str],
        *,
        parent: IncomingMessage | None = None,
        own: bool | None = None,
    ) -> IncomingMessage:
        template = rng.choice(TEMPLATES[(lang, kind)])
        text = template.format_map(_Vars(rng, lang, cfg.handles[lang]))
        text += rng.choice(TAILS.get((lang, kind), ("",)))
        is_own = kind == "own" if own is None else own
        handle = author["author_handle"].lstrip("@")
        # A few questions arrive as direct messages.
        is_public = not (kind == "question" and rng.random() < 0.1)
        return IncomingMessage(
            external_id=slot.external_id,
            text=text,
            created_at=slot.created_at,
            author_id=author["author_id"],
            author_handle=author["author_handle"],
            author_name=author["author_name"],
            author_avatar_url=f"{BASE_URL}/avatar/{author['author_id']}.png",
            author_profile_url=f"{BASE_URL}/{handle}",
            parent_external_id=parent.external_id if parent else "",
            conversation_external_id=(
                parent.conversation_external_id if parent else slot.external_id
            ),
            url=f"{BASE_URL}/{handle}/status/{slot.external_id}",
            is_public=is_public,
            is_own=is_own,
            raw={
                "simulated": True,
                "kind": kind,
                "lang": lang,
                "burst": slot.burst,
            },
        )

    # ---- replies

    @staticmethod
    def reply_id(channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        """Deterministic: a retried attempt gets the same id, so a second post is harmless."""
        basis = "\x1f".join(
            [
                str(channel.id),
                str(target.conversation_id),
                target.in_reply_to_external_id,
                str(target.extra.get("idempotency_key", "")),
                "dm" if target.private else "public",
                text,
            ]
        )
        return "simreply-" + hashlib.sha256(basis.encode()).hexdigest()[:24]

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if not text.strip():
            raise ConnectorError("Empty reply", transient=False)
        external_id = self.reply_id(channel, target, text)
        posted = type(self)._posted
        posted[external_id] = None
        posted.move_to_end(external_id)
        while len(posted) > self._MEMORY:
            posted.popitem(last=False)
        return external_id

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """The id if this process posted it. Another process answers None, and the retry
        that follows posts the same deterministic id again: still one reply."""
        external_id = self.reply_id(channel, target, text)
        return external_id if external_id in type(self)._posted else None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        type(self)._hidden[external_id] = hidden
