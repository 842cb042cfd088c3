"""Role checks shared by every view: one decorator per kind of access."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def role_required(check: Callable) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        setattr(wrapper, "access_rule", check)  # noqa: B010  read by the URL-by-role test
        return wrapper

    return decorator


def is_coordinator(user) -> bool:
    return user.is_coordinator


def is_manager(user) -> bool:
    return user.is_manager


def is_admin(user) -> bool:
    return user.is_admin_role


def is_coordinator_or_manager(user) -> bool:
    return user.is_coordinator or user.is_manager


def is_team_lead_or_manager(user) -> bool:
    return user.is_manager or user.memberships.filter(is_lead=True).exists()


def is_authenticated(user) -> bool:
    return True  # login_required already ran; object-level checks live in the selectors


coordinator_required = role_required(is_coordinator)
any_user_required = role_required(is_authenticated)
manager_required = role_required(is_manager)
coordinator_or_manager_required = role_required(is_coordinator_or_manager)
admin_required = role_required(is_admin)
lead_or_manager_required = role_required(is_team_lead_or_manager)


def public_endpoint(view: Callable) -> Callable:
    """For what anyone may reach without logging in: published pages (house rules) and
    platform webhooks, which authenticate the caller themselves (signatures).

    The URL-by-role test reads access_rule and knows these are public on purpose.
    """
    setattr(view, "access_rule", "public")  # noqa: B010  a function attribute mypy cannot see
    return view
