from django.contrib import admin

from routing.models import Department, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "escalation_email")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
