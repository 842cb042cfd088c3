"""Pure routing-rule matching: no ORM, no I/O (fast tests, safe to run on 1,000 messages).

A rule matches when every condition it sets holds; unset conditions match anything. Rules are
tried in order and the first match wins. Rule objects are duck-typed: a routing.models.RoutingRule
or anything with the same attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

# A hostile or careless pattern must not hang a worker (catastrophic backtracking).
REGEX_TIMEOUT_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class RoutingInput:
    """What a rule may look at: one message with its conversation's context."""

    text: str
    channel_id: int | None = None
    language: str = ""
    sentiment: str = ""
    flags: int = 0
    contact_tags: Sequence[str] = field(default_factory=tuple)
    needs_reply: int | None = None  # the conversation's "needs a reply" score, 0-100


def _pattern_matches(pattern: str, text: str) -> bool:
    try:
        return (
            regex.search(pattern, text, flags=regex.IGNORECASE, timeout=REGEX_TIMEOUT_SECONDS)
            is not None
        )
    except (regex.error, TimeoutError):
        return False


def pattern_error(pattern: str) -> str | None:
    """Why a pattern is unusable, or None (for the rule form)."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        return str(exc)
    return None


def rule_matches(rule: Any, message: RoutingInput) -> bool:
    if not getattr(rule, "active", True):
        return False
    text = message.text.casefold()
    keywords = [k.casefold() for k in (rule.keywords or []) if k.strip()]
    if keywords and not any(k in text for k in keywords):
        return False
    if rule.pattern and not _pattern_matches(rule.pattern, message.text):
        return False
    if rule.channel_id and rule.channel_id != message.channel_id:
        return False
    if rule.language and rule.language != message.language:
        return False
    if rule.sentiment and rule.sentiment != message.sentiment:
        return False
    if rule.flags_any and not (rule.flags_any & message.flags):
        return False
    below = getattr(rule, "needs_reply_below", None)
    at_least = getattr(rule, "needs_reply_from", None)
    if (below is not None or at_least is not None) and message.needs_reply is None:
        return False
    if below is not None and not message.needs_reply < below:
        return False
    if at_least is not None and not message.needs_reply >= at_least:
        return False
    return not (rule.contact_tag and rule.contact_tag not in message.contact_tags)


def first_matching_rule(rules: Iterable[Any], message: RoutingInput) -> Any | None:
    """The first rule (in the given order) that matches, or None."""
    for rule in rules:
        if rule_matches(rule, message):
            return rule
    return None
