"""Forms for the routing rules and the SLA policy and business-calendar editor."""

import zoneinfo

from django import forms
from django.db.models import Q
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from inbox.models import Channel, ChannelKind, Flag, Label, Priority, Sentiment
from routing.models import (
    BusinessCalendar,
    BusinessWindow,
    Closure,
    Department,
    ReopenedHoliday,
    RoutingRule,
    SlaPolicy,
)
from routing.rules.matching import pattern_error
from routing.sla.arithmetic import dutch_holiday_names, dutch_holiday_rules
from routing.sla.policies import calendar_spec

# holidays.NL's languages, by the UI language they serve.
HOLIDAY_LANGUAGES = {"nl": "nl", "en": "en_US"}


class FlagsField(forms.TypedMultipleChoiceField):
    """inbox.models.Flag bits as checkboxes; cleaned to a list of ints (OR them together)."""

    def __init__(self, **kwargs):
        super().__init__(
            choices=[(int(f), label) for f, label in Flag.labels().items()],
            coerce=int,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            **kwargs,
        )


NO_OPEN_TIME = _(
    "A calendar needs at least one opening window (or “open 24/7”): with no opening time "
    "no SLA clock could ever become due."
)


def calendar_without_open_time(calendar: BusinessCalendar | None) -> bool:
    """Is this a stored calendar with no opening time at all (no window, not 24/7)?"""
    return (
        calendar is not None
        and calendar.pk is not None
        and not calendar_spec(calendar).has_open_time()
    )


class PolicyCalendarCheck:
    """Refuses a policy whose calendar (its own, else its team's) has no opening time.

    The editor and the admin both use it: such a policy would stop every clock it starts.
    """

    def clean(self):
        cleaned = super().clean()
        calendar = cleaned.get("calendar")
        department = cleaned.get("department")
        if calendar_without_open_time(calendar):
            self.add_error(
                "calendar",
                forms.ValidationError(
                    _("Calendar “%(name)s” has no opening time. %(why)s"),
                    code="no_open_time",
                    params={"name": calendar.name, "why": NO_OPEN_TIME},
                ),
            )
        elif (
            calendar is None
            and department is not None
            and calendar_without_open_time(department.calendar)
        ):
            self.add_error(
                "department",
                forms.ValidationError(
                    _("The calendar of team %(team)s (“%(name)s”) has no opening time. %(why)s"),
                    code="no_open_time",
                    params={"team": department, "name": department.calendar, "why": NO_OPEN_TIME},
                ),
            )
        return cleaned


class SlaPolicyForm(PolicyCalendarCheck, forms.ModelForm):
    channel_kinds = forms.MultipleChoiceField(
        label=_("Channel kinds"),
        choices=ChannelKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind."),
    )
    priorities = forms.TypedMultipleChoiceField(
        label=_("Priorities"),
        choices=Priority.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every priority."),
    )
    flags = FlagsField(label=_("Flags (any of)"), help_text=_("None ticked: no condition."))

    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "order",
            "is_active",
            "channel_kinds",
            "channels",
            "priorities",
            "department",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "warn_percent",
            "calendar",
        ]
        widgets = {"channels": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["flags"] = [int(f) for f in Flag if self.instance.flags_any & f]

    def clean(self):
        cleaned = super().clean()
        if not any(
            cleaned.get(f)
            for f in ("first_response_minutes", "next_response_minutes", "resolution_minutes")
        ):
            raise forms.ValidationError(_("Set at least one target."))
        return cleaned

    def save(self, commit=True):
        self.instance.flags_any = sum(set(self.cleaned_data.get("flags") or []))
        return super().save(commit=commit)


class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["name", "timezone", "is_24_7", "use_dutch_holidays"]

    def clean_timezone(self):
        value = self.cleaned_data["timezone"]
        if value not in zoneinfo.available_timezones():
            raise forms.ValidationError(_("Unknown time zone."))
        return value


class WindowForm(forms.ModelForm):
    class Meta:
        model = BusinessWindow
        fields = ["weekday", "start", "end"]
        widgets = {
            "start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        help_texts = {"end": _("00:00 means midnight at the end of the day.")}

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and not (end > start or end.hour == end.minute == 0):
            raise forms.ValidationError(_("A window must close after it opens."))
        return cleaned


class ClosureForm(forms.ModelForm):
    class Meta:
        model = Closure
        fields = ["start_date", "end_date", "reason"]
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
        }

    def clean(self):
        cleaned = super().clean()
        a, b = cleaned.get("start_date"), cleaned.get("end_date")
        if a and b and b < a:
            raise forms.ValidationError(_("The last day comes before the first."))
        return cleaned


class BaseWindowFormSet(BaseInlineFormSet):
    """The opening windows of a calendar: at least one, unless the calendar is open 24/7.

    Validate the calendar's own form first: its "open 24/7" is read from the instance it
    updates (the editor and the admin both do so).
    """

    def clean(self):
        super().clean()
        if any(self.errors) or self.instance.is_24_7:
            return
        kept = [f for f in self.forms if f.cleaned_data and not self._should_delete_form(f)]
        if not kept:
            raise forms.ValidationError(NO_OPEN_TIME, code="no_open_time")


def holiday_label_language() -> str:
    """The language holidays.NL names holidays in for the current UI language."""
    return HOLIDAY_LANGUAGES.get((translation.get_language() or "en")[:2], "en_US")


def holiday_rule_choices(stored: str = "") -> list[tuple[str, str]]:
    """(stored name, name in the UI language) of every holiday of this year and the next five
    (a lustrum year among them, for Liberation Day); a stored name no longer listed stays."""
    year = timezone.localdate().year
    rules = dutch_holiday_rules(range(year, year + 6), holiday_label_language())
    choices = [("", "—"), *rules.items()]
    if stored and stored not in rules:
        choices.append((stored, stored))
    return choices


def reopened_label(reopened: ReopenedHoliday) -> str:
    """How the UI names a reopened holiday: the holiday in the UI language, or the date."""
    if reopened.date:
        return date_format(reopened.date, "DATE_FORMAT")
    return dict(holiday_rule_choices(reopened.holiday)).get(reopened.holiday, reopened.holiday)


class ReopenedHolidayForm(forms.ModelForm):
    """A public holiday the team works on: every year by name, or on one date."""

    holiday = forms.ChoiceField(label=_("Holiday, every year"), required=False)

    class Meta:
        model = ReopenedHoliday
        fields = ["holiday", "date"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"})}
        help_texts = {"date": _("A public holiday that is open this one time.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["holiday"].choices = holiday_rule_choices(self.instance.holiday)

    def clean(self):
        cleaned = super().clean()
        holiday, day = cleaned.get("holiday"), cleaned.get("date")
        if holiday and day:
            raise forms.ValidationError(_("Choose a holiday or a date, not both."))
        if not holiday and not day and "date" not in self.errors:
            raise forms.ValidationError(_("Choose a holiday or a date."))
        if day and day not in dutch_holiday_names(day.year):
            self.add_error(
                "date",
                forms.ValidationError(
                    _("%(date)s is not a Dutch public holiday."),
                    params={"date": date_format(day, "DATE_FORMAT")},
                ),
            )
        return cleaned


class BaseReopenedHolidayFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        seen: set = set()
        for form in self.forms:
            if not form.cleaned_data or self._should_delete_form(form):
                continue
            key = form.cleaned_data.get("holiday") or form.cleaned_data.get("date")
            if key in seen:
                raise forms.ValidationError(_("Each holiday once, please."))
            seen.add(key)


WindowFormSet = inlineformset_factory(
    BusinessCalendar,
    BusinessWindow,
    form=WindowForm,
    formset=BaseWindowFormSet,
    extra=2,
    can_delete=True,
)
ClosureFormSet = inlineformset_factory(
    BusinessCalendar, Closure, form=ClosureForm, extra=1, can_delete=True
)
ReopenedHolidayFormSet = inlineformset_factory(
    BusinessCalendar,
    ReopenedHoliday,
    form=ReopenedHolidayForm,
    formset=BaseReopenedHolidayFormSet,
    extra=1,
    can_delete=True,
)


class TryoutForm(forms.Form):
    """When would this be due if a mention came in at ...?"""

    at = forms.DateTimeField(
        label=_("A mention comes in at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.all(), required=False
    )
    channel_kind = forms.ChoiceField(
        label=_("Channel kind (when no channel is chosen)"),
        choices=ChannelKind.choices,
        required=False,
    )
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.objects.all(), required=False
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), choices=Priority.choices, coerce=int, initial=Priority.NORMAL
    )
    flags = FlagsField(label=_("Flags"))


# --- Routing rules -----------------------------------------------------------------------


class RoutingRuleForm(forms.ModelForm):
    keywords_text = forms.CharField(
        label=_("Keywords (comma separated, any of them)"), required=False, max_length=2000
    )
    flag_bits = forms.TypedMultipleChoiceField(
        label=_("Flags (any of them)"),
        required=False,
        coerce=int,
        choices=[(int(f), label) for f, label in Flag.labels().items()],
        widget=forms.CheckboxSelectMultiple,
    )
    sentiment = forms.ChoiceField(
        label=_("Sentiment"), required=False, choices=[("", _("Any"))] + list(Sentiment.choices)
    )
    set_priority = forms.TypedChoiceField(
        label=_("Set priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Leave as is"))] + list(Priority.choices),
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "active",
            "keywords_text",
            "pattern",
            "channel",
            "language",
            "contact_tag",
            "flag_bits",
            "sentiment",
            "needs_reply_below",
            "needs_reply_from",
            "department",
            "auto_forward",
            "set_priority",
            "label",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Archived labels are not offered, except the one the rule already has.
        keep = Q(is_active=True) | Q(pk=self.instance.label_id or 0)
        self.fields["label"].queryset = Label.objects.filter(keep)
        self.fields["label"].empty_label = _("No label")
        if self.instance.pk:
            self.initial["keywords_text"] = ", ".join(self.instance.keywords or [])
            self.initial["flag_bits"] = [int(f) for f in Flag if self.instance.flags_any & f]

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        if pattern and (error := pattern_error(pattern)):
            raise forms.ValidationError(
                _("Not a valid regular expression: %(error)s"), params={"error": error}
            )
        return pattern

    def clean(self):
        data = super().clean()
        data["keywords"] = [
            k.strip() for k in (data.get("keywords_text") or "").split(",") if k.strip()
        ]
        data["flags_any"] = sum(set(data.get("flag_bits") or []))
        below, at_least = data.get("needs_reply_below"), data.get("needs_reply_from")
        if below is not None and at_least is not None and at_least >= below:
            self.add_error("needs_reply_from", _("The lower bound must be below the upper bound."))
        if data.get("auto_forward") and not data.get("department"):
            self.add_error("department", _("Choose the department to forward to."))
        if (
            not data.get("department")
            and data.get("set_priority") is None
            and not data.get("label")
        ):
            raise forms.ValidationError(
                _("A rule needs an action: a department, a priority or a label.")
            )
        return data

    def apply_to(self, rule: RoutingRule) -> RoutingRule:
        """Copy the cleaned values onto a rule without saving (for trying it out)."""
        for name in (
            "name",
            "active",
            "pattern",
            "channel",
            "language",
            "contact_tag",
            "sentiment",
            "needs_reply_below",
            "needs_reply_from",
            "department",
            "auto_forward",
            "set_priority",
            "label",
            "keywords",
            "flags_any",
        ):
            setattr(rule, name, self.cleaned_data.get(name))
        return rule
