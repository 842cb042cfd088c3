"""Settings → API tokens: the forms for a personal and a service token."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api.models import TokenScope
from routing.models import Department
from webcare.accounts.models import Role, User

# A service account acts in one of these roles; never as an administrator.
SERVICE_ROLES = [(r.value, r.label) for r in (Role.COORDINATOR, Role.MANAGER, Role.STAFF)]


class PersonalTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What it is for, e.g. “Power BI export”."),
    )
    scope = forms.ChoiceField(
        label=_("Scope"),
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
    )
    teams = forms.ModelMultipleChoiceField(
        label=_("Limit to teams"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every team you may see."),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Optional. The token stops working at the start of this day."),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["teams"].queryset = self.team_choices(user)  # type: ignore[attr-defined]

    @staticmethod
    def team_choices(user: User):
        """The teams a person may limit their token to: those they belong to, every team for
        coordinators and managers (who see them all)."""
        if user.is_coordinator or user.is_manager:
            return Department.objects.order_by("name")
        return Department.objects.filter(memberships__user=user).order_by("name")

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is not None and day <= timezone.localdate():
            raise forms.ValidationError(_("Choose a day after today."))
        return day

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class ServiceTokenForm(PersonalTokenForm):
    role = forms.ChoiceField(
        label=_("Acts as"),
        choices=SERVICE_ROLES,
        initial=Role.COORDINATOR,
        help_text=_("A staff service token sees only the teams ticked below."),
    )
    rate_per_minute = forms.IntegerField(
        label=_("Requests per minute"),
        required=False,
        min_value=1,
        max_value=100_000,
        help_text=_("Empty: the default limit."),
    )

    field_order = ["name", "role", "scope", "teams", "rate_per_minute", "expires_on"]

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.fields["teams"].queryset = Department.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["teams"].help_text = _("None ticked: every team its role may see.")

    def clean(self):
        data = super().clean() or {}
        if data.get("role") == Role.STAFF and not data.get("teams"):
            self.add_error("teams", _("A staff service token needs at least one team."))
        return data
