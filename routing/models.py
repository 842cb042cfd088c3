from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Department(models.Model):
    """A department team that receives forwarded conversations ("webcare opvolgschema")."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    escalation_email = models.EmailField(_("escalation contact e-mail"), blank=True, default="")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="Membership",
        related_name="departments",
        verbose_name=_("members"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    is_lead = models.BooleanField(_("team lead"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="membership_unique")
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.department}"


class RoutingRule(models.Model):
    """An ordered rule: when a new message matches every set condition, the actions apply.

    The matcher is pure (routing/rules.py); routing.services.apply_routing applies the actions.
    """

    order = models.PositiveIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    # Conditions: empty means "any".
    keywords = models.JSONField(_("keywords (any of)"), default=list, blank=True)
    pattern = models.CharField(_("regular expression"), max_length=500, blank=True, default="")
    channel = models.ForeignKey(
        "inbox.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("channel"),
    )
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    contact_tag = models.CharField(_("contact tag"), max_length=40, blank=True, default="")
    flags_any = models.IntegerField(_("flags (any of)"), default=0)
    sentiment = models.CharField(_("sentiment"), max_length=10, blank=True, default="")
    # Actions
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
        verbose_name=_("department"),
    )
    auto_forward = models.BooleanField(_("forward automatically"), default=False)
    set_priority = models.SmallIntegerField(_("set priority"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return self.name
