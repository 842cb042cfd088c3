from django import forms
from django.contrib import admin

from routing.forms import (
    BaseReopenedHolidayFormSet,
    BaseWindowFormSet,
    PolicyCalendarCheck,
    ReopenedHolidayForm,
)
from routing.models import (
    BusinessCalendar,
    BusinessWindow,
    Closure,
    Department,
    Membership,
    OnCallShift,
    ReopenedHoliday,
    SlaBreach,
    SlaPolicy,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "escalation_email")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


class BusinessWindowInline(admin.TabularInline):
    model = BusinessWindow
    # At least one window unless the calendar is open 24/7 (as in the calendar editor).
    formset = BaseWindowFormSet
    extra = 1


class ClosureInline(admin.TabularInline):
    model = Closure
    extra = 0


class ReopenedHolidayInline(admin.TabularInline):
    model = ReopenedHoliday
    form = ReopenedHolidayForm  # the holiday chosen from the list holidays.NL gives
    formset = BaseReopenedHolidayFormSet
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "is_24_7", "use_dutch_holidays")
    inlines = [BusinessWindowInline, ClosureInline, ReopenedHolidayInline]


class SlaPolicyAdminForm(PolicyCalendarCheck, forms.ModelForm):
    """The admin's own form (its model and fields come from the ModelAdmin), with the check."""


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyAdminForm
    list_display = ("name", "order", "is_active", "department", "first_response_minutes")
    list_editable = ("order", "is_active")


@admin.register(OnCallShift)
class OnCallShiftAdmin(admin.ModelAdmin):
    list_display = ("department", "user", "weekdays", "start", "end", "start_date", "end_date")
    list_filter = ("department",)


@admin.register(SlaBreach)
class SlaBreachAdmin(admin.ModelAdmin):
    list_display = ("conversation", "target", "due_at", "overdue_by", "holder", "department")
    list_filter = ("target", "department")
    raw_id_fields = ("conversation", "clock")
