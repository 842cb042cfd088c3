"""Every API endpoint, every role, every token scope: allowed or refused as the ACCESS tables
(tests/api/access_*.py) say. An API route without an entry fails here, so whoever adds one must
decide who may call it.

Allowed answers 2xx; refused answers 403 or 404 (404 where the object is outside what the token
may see, so its existence does not leak); a read-only token on a write endpoint its person may
use answers exactly 403; no token answers 401.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django.urls import URLPattern, reverse

import tests.api
from api.models import ApiToken, TokenScope
from api.tokens import digest_of
from inbox.models import Direction, HouseRule, Label, NoReplyReason, Reply, ReplyState, Status
from tests.api.matrix import ROLES, TOKEN_VARIANTS, Access
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from tests.webcare.test_url_access import API_PATTERNS


def _tables() -> dict[str, Access]:
    table: dict[str, Access] = {}
    for info in pkgutil.iter_modules(tests.api.__path__):
        if info.name.startswith("access_"):
            module = importlib.import_module(f"tests.api.{info.name}")
            overlap = set(table) & set(module.ACCESS)
            assert not overlap, f"{info.name} repeats entries: {overlap}"
            table.update(module.ACCESS)
    return table


TABLE = _tables()
PATTERNS = {name: pattern for _, name, pattern in API_PATTERNS}


def test_every_api_route_has_an_entry():
    missing = sorted(set(PATTERNS) - set(TABLE))
    assert not missing, f"API routes without an entry in tests/api/access_*.py: {missing}"
    stale = sorted(set(TABLE) - set(PATTERNS))
    assert not stale, f"entries for API routes that no longer exist: {stale}"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Seven personas per case: the default PBKDF2 hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(team_a, team_b, coordinator, staff_a, lead_a, staff_b, manager, admin_user):
    channel = ChannelFactory(kind="x", name="X @woningcorp")
    conversation = ConversationFactory(channel=channel, department=team_a, status=Status.TRIAGED)
    for text in ("Lekkage in de badkamer.", "Het druppelt nog steeds."):
        MessageFactory(conversation=conversation, text=text, direction=Direction.INBOUND)
    reply = Reply.objects.create(
        conversation=conversation,
        author=staff_a,
        text="Wij sturen een monteur.",
        state=ReplyState.DRAFT,
        parts=["Wij sturen een monteur."],
    )
    world = {
        "team_a": team_a,
        "team_b": team_b,
        "channel": channel,
        "contact": conversation.contact,
        "conversation": conversation,
        "reply": reply,
        "house_rule": HouseRule.objects.create(title="Geen scheldwoorden", text="Wees beleefd."),
        "no_reply_reason": NoReplyReason.objects.create(label="Geen vraag"),
        "coordinator": coordinator,
        "staff_a": staff_a,
        "lead_a": lead_a,
        "staff_b": staff_b,
        "manager": manager,
        "admin_user": admin_user,
    }
    world["label"] = Label.objects.create(name="Lekkage")
    return world


def _token(user, variant: str, team_b) -> str:
    """A token made directly, so a team limit can narrow any person (the service refuses a
    personal token for teams its person does not belong to; the API must hold even so)."""
    raw = f"wci_matrix-{user.pk}-{variant}"
    token = ApiToken.objects.create(
        kind="personal",
        name=variant,
        user=user,
        digest=digest_of(raw),
        prefix=raw[:10],
        scope=TokenScope.READ if variant == "read" else TokenScope.WRITE,
    )
    if variant == "team_b":
        token.teams.set([team_b])
    return raw


def _url(name: str, pattern: URLPattern, access: Access, world: dict) -> str:
    kwargs = access.url_kwargs(world) if access.url_kwargs else {}
    missing = set(pattern.pattern.converters) - set(kwargs)
    assert not missing, f"{name}: url_kwargs must give {missing}"
    return reverse(name, kwargs=kwargs)


def _call(client, access: Access, url: str, world: dict):
    body = access.body(world) if access.body else None
    call = getattr(client, access.method)
    return call(url, body, format="json") if access.method != "get" else call(url)


CASES = [
    (name, role, variant) for name in sorted(TABLE) for role in ROLES for variant in TOKEN_VARIANTS
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "role", "variant"), CASES, ids=["-".join(c) for c in CASES])
def test_access(api_client, world, name, role, variant):
    access = TABLE[name]
    url = _url(name, PATTERNS[name], access, world)
    raw = _token(world[role], variant, world["team_b"])
    response = _call(api_client(raw), access, url, world)
    status = response.status_code
    if access.allows(role, variant):
        assert 200 <= status < 300, (
            f"{role}/{variant} must reach {name}: {status} {response.content[:300]!r}"
        )
    elif variant == "read" and access.scope == "write" and role in access.roles:
        assert status == 403, f"a read-only token must get 403 on {name}: {status}"
    else:
        assert status in (403, 404), f"{role}/{variant} must be refused {name}: {status}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(TABLE))
def test_no_token_is_401(api_client, world, name):
    access = TABLE[name]
    response = _call(api_client(), access, _url(name, PATTERNS[name], access, world), world)
    expected = 200 if access.public else 401
    assert response.status_code == expected, f"{name} without a token: {response.status_code}"
