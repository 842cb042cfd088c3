"""Where webhook deliveries may go: public addresses only, unless settings say otherwise.

requests-hardened does the work at delivery time: it resolves the host once, refuses a private,
loopback, link-local or reserved address, and connects to the address it checked, so a name that
resolves to something else a moment later (DNS rebinding) cannot slip through. The form checks
what it can without a DNS lookup (an address or "localhost" typed in) with the same rule.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress, get_ip_address

__all__ = ["InvalidIPAddress", "check_typed_target", "session"]


def session(timeout: tuple[float, float]) -> HTTPSession:
    return HTTPSession(
        Config(
            ip_filter_enable=not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=timeout,
        )
    )


def _is_literal(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_typed_target(url: str) -> None:
    """Refuse a URL whose host is typed as a private address or localhost (no DNS lookup)."""
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not _is_literal(host):
        return
    try:
        get_ip_address(host, parts.port or 443, allow_loopback=False)
    except (InvalidIPAddress, OSError):
        raise ValidationError(
            _(
                "%(host)s is a private or local address; webhooks go to public addresses only "
                "(an administrator of the server can allow private ones)."
            ),
            params={"host": host},
            code="private_target",
        ) from None
