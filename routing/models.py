from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReviewPolicy(models.TextChoices):
    """When a second pair of eyes must approve a reply before it goes out ("don't react too fast")."""

    ALWAYS = "always", _("Always")
    FLAGGED = "flagged", _("Flagged conversations (threat, press, other flags)")
    NEW_STAFF = "new_staff", _("Replies by new staff")
    NEVER = "never", _("Never")


class Department(models.Model):
    """A department team that receives forwarded conversations ("webcare opvolgschema")."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    escalation_email = models.EmailField(_("escalation contact e-mail"), blank=True, default="")
    review_policy = models.CharField(
        _("review before sending"),
        max_length=20,
        choices=ReviewPolicy.choices,
        default=ReviewPolicy.NEW_STAFF,
    )
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
