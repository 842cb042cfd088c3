"""Routing rules on the "needs a reply" score: a rule lowers the priority of what likely needs
no answer (the low-priority view), and an unscored conversation matches no bound."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, Priority
from inbox.services.ingest import ingest_messages
from routing.forms import RoutingRuleForm
from routing.models import RoutingRule
from routing.rules.matching import RoutingInput, rule_matches

STAMP = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def rule(**kw):
    base = {
        "keywords": [],
        "pattern": "",
        "channel_id": None,
        "language": "",
        "sentiment": "",
        "flags_any": 0,
        "contact_tag": "",
        "needs_reply_below": None,
        "needs_reply_from": None,
    }
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize(
    ("below", "at_least", "score", "hit"),
    [
        (30, None, 29, True),
        (30, None, 30, False),
        (None, 70, 70, True),
        (None, 70, 69, False),
        (50, 20, 35, True),
        (30, None, None, False),
        (None, 70, None, False),
        (None, None, None, True),
    ],
)
def test_the_condition_bounds(below, at_least, score, hit):
    condition = rule(needs_reply_below=below, needs_reply_from=at_least)
    assert rule_matches(condition, RoutingInput(text="x", needs_reply=score)) is hit


@pytest.mark.django_db
def test_a_rule_lowers_the_priority_of_thanks_at_ingest(channel):
    RoutingRule.objects.create(name="Bedankjes", needs_reply_below=50, set_priority=Priority.LOW)
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(
                external_id="t1", text="Top, bedankt! 👍", created_at=STAMP, author_id="a1"
            ),
            IncomingMessage(
                external_id="q1",
                text="Wanneer komt de monteur? Graag snel",
                created_at=STAMP,
                author_id="a2",
            ),
        ],
    )
    thanks = Conversation.objects.get(messages__external_id="t1")
    question = Conversation.objects.get(messages__external_id="q1")
    assert thanks.needs_reply < 50 <= question.needs_reply
    assert (thanks.priority, question.priority) == (Priority.LOW, Priority.NORMAL)
    # Lowered, not hidden: still open in the shared queue.
    assert thanks.status == "new" and thanks.department_id is None


@pytest.mark.django_db
def test_the_form_checks_the_bounds():
    data = {"name": "x", "active": "on", "set_priority": "0"}
    assert RoutingRuleForm({**data, "needs_reply_below": "30"}).is_valid()
    form = RoutingRuleForm({**data, "needs_reply_below": "30", "needs_reply_from": "40"})
    assert not form.is_valid() and "needs_reply_from" in form.errors
    assert not RoutingRuleForm({**data, "needs_reply_below": "101"}).is_valid()
