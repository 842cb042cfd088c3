"""Creating, finding and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _

from api.models import ApiToken, TokenKind, TokenScope
from inbox.selectors.team import may_see_team
from inbox.services.refusals import ActionRefused
from routing.models import Department, Membership
from webcare.accounts.models import Role, User

PREFIX = "wci_"
# last_used_at is written at most this often per token: a busy integration must not turn
# every GET into a row update.
TOUCH_EVERY = timedelta(minutes=1)


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_raw() -> str:
    return PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def create_personal_token(
    *,
    user: User,
    name: str,
    scope: str = TokenScope.READ,
    teams: Iterable[Department] = (),
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A token that acts as `user`. Returns the token row and the token, shown once."""
    teams = list(teams)
    if not all(may_see_team(user, team.pk) for team in teams):
        raise ActionRefused(_("A token can only be limited to teams you belong to."))
    return _create(
        kind=TokenKind.PERSONAL,
        user=user,
        created_by=user,
        name=name,
        scope=scope,
        teams=teams,
        expires_at=expires_at,
    )


@transaction.atomic
def create_service_token(
    *,
    acting_user: User,
    name: str,
    role: str,
    scope: str = TokenScope.READ,
    teams: Iterable[Department] = (),
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
) -> tuple[ApiToken, str]:
    """A token for a system (a case system, a BI tool), acting as a service account of its
    own with `role`, so the audit log names the integration, not a colleague."""
    if not acting_user.is_admin_role:
        raise ActionRefused(_("Only administrators create service tokens."))
    if role == Role.ADMIN:
        raise ActionRefused(_("A service token cannot have the administrator role."))
    teams = list(teams)
    if role == Role.STAFF and not teams:
        raise ActionRefused(_("A staff service token needs at least one team."))
    account = User.objects.create(
        username=f"service-{get_random_string(8).lower()}",
        first_name=name[:150],
        role=role,
        is_active=True,
    )
    account.set_unusable_password()
    account.save(update_fields=["password"])
    if role == Role.STAFF:
        Membership.objects.bulk_create(Membership(user=account, department=team) for team in teams)
    return _create(
        kind=TokenKind.SERVICE,
        user=account,
        created_by=acting_user,
        name=name,
        scope=scope,
        teams=teams,
        expires_at=expires_at,
        rate_per_minute=rate_per_minute,
    )


def _create(*, teams: list[Department], **fields) -> tuple[ApiToken, str]:
    raw = _new_raw()
    token = ApiToken.objects.create(digest=digest_of(raw), prefix=raw[: len(PREFIX) + 6], **fields)
    token.teams.set(teams)
    return token, raw


def find_active(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token for `raw`, its user loaded; None for unknown, revoked or expired ones
    and for a deactivated person."""
    if not raw.startswith(PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest_of(raw), revoked_at__isnull=True)
        .first()
    )
    now = now or timezone.now()
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def team_ids_of(token: ApiToken) -> frozenset[int]:
    """The teams a token is limited to (empty: not limited). Cached on the token row."""
    cached = getattr(token, "_team_ids", None)
    if cached is None:
        cached = frozenset(token.teams.values_list("pk", flat=True))
        token._team_ids = cached  # type: ignore[attr-defined]
    return cached


@transaction.atomic
def revoke_token(*, token: ApiToken, acting_user: User) -> ApiToken:
    owns = acting_user.pk in (token.user_id, token.created_by_id)
    if not owns and not acting_user.is_admin_role:
        raise ActionRefused(_("You may only revoke your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = acting_user
        token.save(update_fields=["revoked_at", "revoked_by"])
        if token.kind == TokenKind.SERVICE:
            # The service account exists only for this token: it ends with it.
            User.objects.filter(pk=token.user_id).update(is_active=False)
    return token


def default_rate() -> int:
    return int(getattr(settings, "API_RATE_PER_MINUTE", 600))
