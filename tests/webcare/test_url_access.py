"""Every URL pattern, every role: allowed or forbidden, as the table below says.

The table is the access policy in one place. A new URL pattern without an entry here,
or a (non-public) view without an access_rule from webcare.permissions, fails this test:
whoever adds a URL must decide who may open it. Django admin URLs are checked by prefix
(only the admin role gets in).
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from inbox.models import Reply, ReplyState
from tests.factories import ConversationFactory, MessageFactory

ROLES = ("anonymous", "coordinator", "staff_a", "staff_b", "manager", "admin_user")
ALL = frozenset(ROLES) - {"anonymous"}
PUBLIC = "public"  # no login needed (login, password reset, language switch)
# Push endpoints: no login, but a valid platform signature; unsigned requests get a 4xx, never a page.
SIGNED = "signed"
# Machine endpoints with their own credentials (a bearer token), or an admin session: never a login page.
TOKEN = "token"

OK, NO = True, False
COORD = frozenset({"coordinator", "admin_user"})
LEAD_OR_MANAGER = frozenset({"manager", "admin_user"})
MANAGER = frozenset({"manager", "admin_user"})
ADMIN = frozenset({"admin_user"})
# The conversation under test belongs to team A: its staff, coordinators and admins act on it.
TEAM_A_ACT = frozenset({"coordinator", "staff_a", "admin_user"})
TEAM_A_READ = TEAM_A_ACT | {"manager"}

# name -> (method, roles allowed, or PUBLIC)
TABLE: dict[str, tuple[str, frozenset[str] | str]] = {
    "home": ("get", ALL),
    "login": ("get", PUBLIC),
    "logout": ("post", PUBLIC),
    "password_reset": ("get", PUBLIC),
    "password_reset_done": ("get", PUBLIC),
    "password_reset_confirm": ("get", PUBLIC),
    "password_reset_complete": ("get", PUBLIC),
    "set_language": ("post", PUBLIC),
    "dashboards": ("get", LEAD_OR_MANAGER),
    "reports:team": ("get", LEAD_OR_MANAGER),
    "reports:panel": ("get", LEAD_OR_MANAGER),
    "reports:definitions": ("get", LEAD_OR_MANAGER),
    "reports:weekly": ("get", MANAGER),
    "reports:crisis": ("get", MANAGER),
    "reports:crisis_live": ("get", MANAGER),
    # Crisis clusters: managers watch, coordinators act (reports/crisis/views.py).
    "reports:crisis_clusters": ("get", COORD | MANAGER),
    "reports:crisis_cluster": ("get", COORD | MANAGER),
    "reports:crisis_cluster_action": ("get", COORD | MANAGER),
    "reports:crisis_take_out": ("post", COORD),
    "reports:crisis_cluster_act": ("post", COORD),
    "settings": ("get", ALL),
    "tokens:list": ("get", ALL),
    "tokens:create": ("post", ALL),
    "tokens:service_create": ("post", ADMIN),
    # The sample token is the coordinator's: its owner and administrators may revoke it.
    "tokens:revoke": ("post", COORD),
    "routing:departments": ("get", COORD),
    "inbox:inbox": ("get", COORD),
    "inbox:conversation": ("get", TEAM_A_READ),
    "inbox:team": ("get", ALL),
    "inbox:team_export": ("get", ALL),
    "inbox:team_reviews": ("get", ALL),
    "inbox:team_conversation": ("get", TEAM_A_READ),
    "assist:suggestions": ("get", TEAM_A_READ),
    "inbox:team_workspace": ("get", TEAM_A_READ),
    "inbox:team_claim": ("post", TEAM_A_ACT),
    "inbox:team_unclaim": ("post", TEAM_A_ACT),
    "inbox:team_reassign": ("post", TEAM_A_ACT),
    "inbox:team_hand_back": ("post", TEAM_A_ACT),
    "inbox:team_close": ("post", TEAM_A_ACT),
    "inbox:team_waiting": ("post", TEAM_A_ACT),
    "inbox:note_add": ("post", TEAM_A_ACT),
    "inbox:composer_canned": ("get", TEAM_A_ACT),
    "inbox:composer_preview": ("post", TEAM_A_ACT),
    "inbox:reply_save": ("post", TEAM_A_ACT),
    "inbox:team_handover": ("post", TEAM_A_ACT),
    "inbox:reply_approve": ("post", TEAM_A_ACT),
    "inbox:reply_send_back": ("post", TEAM_A_ACT),
    "inbox:reply_retry": ("post", TEAM_A_ACT),
    "inbox:reply_discard": ("post", TEAM_A_ACT),
    "inbox:notifications": ("get", ALL),
    "inbox:notifications_read": ("post", ALL),
    "inbox:spike-alerts": ("get", COORD | MANAGER),
    "inbox:channels": ("get", ADMIN),
    "inbox:channel_new": ("get", ADMIN),
    "inbox:channel_edit": ("get", ADMIN),
    "integrations:webhooks": ("get", ADMIN),
    "integrations:webhook_new": ("get", ADMIN),
    "integrations:webhook_log": ("get", ADMIN),
    "integrations:webhook_edit": ("get", ADMIN),
    "integrations:webhook_active": ("post", ADMIN),
    "integrations:webhook_delete": ("post", ADMIN),
    "integrations:webhook_test": ("post", ADMIN),
    "routing:sla": ("get", MANAGER),
    "routing:policy_new": ("get", MANAGER),
    "routing:policy_edit": ("get", MANAGER),
    "routing:calendar_new": ("get", MANAGER),
    "routing:calendar_edit": ("get", MANAGER),
    "inbox:inbox_new": ("get", COORD),
    "inbox:inbox_newer": ("get", COORD),
    "inbox:bulk": ("post", COORD),
    "inbox:saved_view_create": ("post", COORD),
    "inbox:saved_view_delete": ("post", COORD),
    "inbox:presence": ("get", TEAM_A_READ),
    "inbox:forward": ("post", COORD),
    "inbox:assign": ("post", COORD),
    "inbox:no_reply": ("post", COORD),
    "inbox:hide": ("post", COORD),
    "inbox:unhide": ("post", COORD),
    "inbox:flag": ("post", COORD),
    "inbox:priority": ("post", COORD),
    "inbox:conversation_labels": ("post", TEAM_A_ACT),
    "inbox:labels": ("get", ADMIN),
    "inbox:label_edit": ("get", ADMIN),
    "inbox:merge": ("post", COORD),
    "inbox:split": ("post", COORD),
    "inbox:evidence": ("get", COORD),
    "inbox:contact_note": ("post", TEAM_A_READ),
    "inbox:house_rules": ("get", PUBLIC),
    "routing:rules": ("get", COORD),
    "routing:rule_try": ("post", COORD),
    "routing:rule_edit": ("get", COORD),
    "routing:rule_move": ("post", COORD),
    "routing:rule_delete": ("post", COORD),
    "two_factor_verify": ("get", ALL),
    "two_factor_setup": ("get", MANAGER),
    "inbox:audit_log": ("get", MANAGER),
    "inbox:audit_export": ("get", MANAGER),
    "inbox:privacy_contacts": ("get", ADMIN),
    "inbox:privacy_contact": ("get", ADMIN),
    "inbox:privacy_export": ("post", ADMIN),
    "inbox:privacy_erase": ("post", ADMIN),
    "health": ("get", PUBLIC),
    "metrics": ("get", TOKEN),
    "hooks:meta": ("get", SIGNED),
    "hooks:whatsapp": ("get", SIGNED),
    "hooks:generic": ("post", SIGNED),
}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            full_ns = ":".join(part for part in (namespace, ns) if part)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), full_ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name, entry


ALL_PATTERNS = list(_walk(get_resolver().url_patterns))
# The REST API answers tokens and scopes, not login pages: tests/api/test_matrix.py holds its
# table of every endpoint for every role and token scope.
API_PATTERNS = [p for p in ALL_PATTERNS if p[0].startswith("api/v1/")]
APP_PATTERNS = [p for p in ALL_PATTERNS if not p[0].startswith(("admin/", "api/v1/"))]
ADMIN_PATTERNS = [p for p in ALL_PATTERNS if p[0].startswith("admin/")]


def test_every_url_pattern_has_an_entry():
    missing = [f"{route} (name={name})" for route, name, _ in APP_PATTERNS if name not in TABLE]
    assert not missing, f"URL patterns without an access entry in TABLE: {missing}"
    stale = set(TABLE) - {name for _, name, _ in APP_PATTERNS}
    assert not stale, f"TABLE entries for URLs that no longer exist: {stale}"


def test_every_non_public_view_declares_an_access_rule():
    bare = [
        f"{route} (name={name})"
        for route, name, pattern in APP_PATTERNS
        if TABLE.get(name, ("", ""))[1] != PUBLIC and not hasattr(pattern.callback, "access_rule")
    ]
    assert not bare, f"views without webcare.permissions decorator: {bare}"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Seven personas per case: the default PBKDF2 hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(team_a, team_b, coordinator, staff_a, lead_a, staff_b, manager, admin_user):
    conversation = ConversationFactory(department=team_a, status="assigned", assignee=staff_a)
    reply = Reply.objects.create(
        conversation=conversation,
        author=lead_a,
        text="Wij kijken ernaar.",
        state=ReplyState.PENDING_REVIEW,
        parts=["Wij kijken ernaar."],
    )
    from inbox.models import Channel, Flag
    from inbox.services.triage import flag_conversation
    from routing.models import BusinessCalendar, RoutingRule, SlaPolicy

    # A threat keeps evidence, so the evidence export has something to show.
    MessageFactory(conversation=conversation)
    flag_conversation(
        conversation=conversation,
        flag=Flag.THREAT,
        acting_user=coordinator,
        version=conversation.version,
    )
    channel = Channel.objects.create(kind="webhook", name="Signed webhook")
    from integrations.services.subscriptions import create_subscription

    subscription, _secret = create_subscription(
        name="Zaaksysteem",
        url="https://zaken.example.org/webcare",
        event_types=["conversation.forwarded"],
        acting_user=admin_user,
    )
    rule = RoutingRule.objects.create(name="Lekkage", keywords=["lekkage"], department=team_a)
    from django.utils import timezone

    from reports.models import CrisisCluster, CrisisClusterAction

    cluster = CrisisCluster.objects.create(
        kind="near", sample="Schande", first_at=timezone.now(), last_at=timezone.now(), size=1
    )
    cluster.members.create(conversation=conversation, message_id=0, score=100)
    cluster_action = CrisisClusterAction.objects.create(
        cluster=cluster, action="answer", actor=coordinator, text="Sorry", items={}
    )
    policy = SlaPolicy.objects.create(name="Standaard", first_response_minutes=60)
    calendar = BusinessCalendar.objects.create(name="Kantoortijden")
    from inbox.models import Label

    label = Label.objects.create(name="Klacht", colour="red")

    from api.tokens import create_personal_token

    coordinator_token, _raw = create_personal_token(user=coordinator, name="Koppeling")
    return {
        "pk": conversation.pk,
        "reply_id": reply.pk,
        "uidb64": "MQ",
        "token": "x-y",
        "channel_id": channel.pk,
        # URL names whose "pk" is not a conversation
        "inbox:channel_edit:pk": channel.pk,
        **{
            f"integrations:{name}:pk": subscription.pk
            for name in (
                "webhook_log",
                "webhook_edit",
                "webhook_active",
                "webhook_delete",
                "webhook_test",
            )
        },
        "routing:policy_edit:pk": policy.pk,
        **{
            f"reports:{name}:pk": cluster.pk
            for name in (
                "crisis_cluster",
                "crisis_cluster_action",
                "crisis_take_out",
                "crisis_cluster_act",
            )
        },
        "action_pk": cluster_action.pk,
        "routing:calendar_edit:pk": calendar.pk,
        "routing:rule_edit:pk": rule.pk,
        "inbox:label_edit:pk": label.pk,
        "name": "volume",
        "contact_id": conversation.contact_id,
        "routing:rule_move:pk": rule.pk,
        "routing:rule_delete:pk": rule.pk,
        "inbox:contact_note:conversation_pk": conversation.pk,
        "inbox:contact_note:pk": conversation.contact_id,
        "tokens:revoke:pk": coordinator_token.pk,
    }


def _url(pattern: URLPattern, name: str, world: dict) -> str:
    kwargs = {key: world.get(f"{name}:{key}", world.get(key)) for key in pattern.pattern.converters}
    return reverse(name, kwargs=kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "entry", [p for p in APP_PATTERNS if p[1] in TABLE], ids=lambda p: p[1] or p[0]
)
def test_access(client, request, world, role, entry):
    route, name, pattern = entry
    method, allowed = TABLE[name]
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    if name == "inbox:saved_view_delete" and role != "anonymous":
        # A saved view belongs to one user: each role deletes its own.
        from inbox.models import SavedView

        user = request.getfixturevalue(role)
        world = {**world, "pk": SavedView.objects.create(user=user, name="Mijn filter").pk}
    url = _url(pattern, name, world)
    data = {"text": "Test", "reason": "Niet voor ons", "comment": "Korter", "language": "en"}
    response = client.post(url, data) if method == "post" else client.get(url)
    assert response.status_code < 500
    if allowed != SIGNED:
        assert response.status_code not in (404, 405), (
            f"bad sample for {name}: {response.status_code}"
        )
    if allowed == PUBLIC:
        assert response.status_code != 403
        return
    if allowed == TOKEN:
        expected = 200 if role == "admin_user" else 403
        assert response.status_code == expected, f"{role} on {name}: {response.status_code}"
        return
    if allowed == SIGNED:
        assert 400 <= response.status_code < 500, (
            f"unsigned request to {name}: {response.status_code}"
        )
        assert response["Content-Type"].startswith("application/json")
        return
    to_login = response.status_code == 302 and response["Location"].startswith(reverse("login"))
    if role == "anonymous":
        assert to_login, f"{name} must send anonymous users to the login page"
    elif role in allowed:
        assert response.status_code != 403 and not to_login, f"{role} must reach {name}"
    else:
        assert response.status_code == 403, f"{role} must be refused {name}"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_admin_urls_are_for_admins_only(client, request, role):
    """Every admin URL that takes no arguments: the admin gets in, everyone else is sent away."""
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    checked = 0
    for _route, name, pattern in ADMIN_PATTERNS:
        if (
            pattern.pattern.regex.groups
            or not name
            or name.endswith(("login", "logout", "autocomplete"))
        ):
            continue  # object URLs sit behind the same admin_view guard as these
        response = client.get(reverse(name))
        checked += 1
        if role == "admin_user":
            if response.status_code == 403 and name.endswith("_add"):
                # Read-only logs (login attempts, audit events) forbid "add" even to admins.
                continue
            assert response.status_code in (200, 302), (name, response.status_code)
            if response.status_code == 302:
                assert "/admin/login/" not in response["Location"]
        else:
            assert response.status_code == 302, (name, role)
            assert "/admin/login/" in response["Location"], (name, role)
    assert checked > 5
