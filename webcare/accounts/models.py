from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator webcare")
    STAFF = "staff", _("Department staff")
    MANAGER = "manager", _("Manager")
    ADMIN = "admin", _("Administrator")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.STAFF)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Amsterdam")
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    # Staff marked as new have their replies reviewed when the team's policy says so.
    is_new_staff = models.BooleanField(_("new staff member"), default=False)
    initials = models.CharField(_("initials"), max_length=8, blank=True, default="")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.label(self.first_name, self.last_name, self.username)

    @staticmethod
    def label(first_name: str, last_name: str, username: str) -> str:
        """How a user is shown (full name, else username), also for rows read without a
        model instance; the same as get_full_name() or username."""
        return f"{first_name} {last_name}".strip() or username

    @property
    def is_coordinator(self) -> bool:
        return self.role in (Role.COORDINATOR, Role.ADMIN)

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    def signature(self) -> str:
        return (
            self.initials
            or "".join(part[0] for part in self.get_full_name().split() if part)[:3].upper()
        )
