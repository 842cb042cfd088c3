"""API tokens: personal tokens act as their person; service tokens as a service account."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenKind(models.TextChoices):
    PERSONAL = "personal", _("Personal access token")
    SERVICE = "service", _("Service token")


class TokenScope(models.TextChoices):
    READ = "read", _("Read only")
    WRITE = "write", _("Read and write")


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored: the token itself is shown once.

    The token is 256 random bits, so a fast digest is as safe as a slow password hash and
    lets every request find its token with one indexed lookup.
    """

    kind = models.CharField(_("kind"), max_length=10, choices=TokenKind.choices)
    name = models.CharField(_("name"), max_length=100)
    # Who the token acts as: its owner, or the service account made for a service token.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    digest = models.CharField(max_length=64, unique=True)
    # The first characters, so a person can tell their tokens apart in Settings.
    prefix = models.CharField(max_length=12)
    scope = models.CharField(
        _("scope"), max_length=10, choices=TokenScope.choices, default=TokenScope.READ
    )
    # Empty: every team the person may see. Otherwise only conversations of these teams.
    teams = models.ManyToManyField(
        "routing.Department", blank=True, related_name="+", verbose_name=_("teams")
    )
    rate_per_minute = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def may_write(self) -> bool:
        return self.scope == TokenScope.WRITE
