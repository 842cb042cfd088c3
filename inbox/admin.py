from django.contrib import admin

from inbox.models import (
    CannedAnswer,
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    FaqSet,
    HouseRule,
    Message,
    NoReplyReason,
)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "status", "last_success_at", "consecutive_failures")
    list_filter = ("kind", "enabled", "status")
    exclude = ("credentials_encrypted",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "handle", "channel", "is_fake", "is_blocked")
    search_fields = ("name", "handle")
    list_filter = ("channel",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "snippet", "channel", "status", "department", "assignee", "received_at")
    list_filter = ("status", "channel", "department")
    raw_id_fields = ("contact", "previous", "merged_into")
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "text", "direction", "channel", "created_at")
    raw_id_fields = ("conversation", "contact")
    show_full_result_count = False


@admin.register(ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "kind", "actor", "created_at")
    raw_id_fields = ("conversation",)
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Content that teams and coordinators maintain: canned answers, FAQ sets, house rules, reasons.


class CannedAnswerInline(admin.TabularInline):
    model = CannedAnswer
    extra = 1
    fields = ("language", "title", "shortcut", "body", "is_active")


@admin.register(FaqSet)
class FaqSetAdmin(admin.ModelAdmin):
    list_display = ("topic", "department")
    list_filter = ("department",)
    inlines = [CannedAnswerInline]


@admin.register(CannedAnswer)
class CannedAnswerAdmin(admin.ModelAdmin):
    list_display = ("title", "shortcut", "department", "language", "faq_set", "is_active")
    list_filter = ("department", "language", "is_active")
    search_fields = ("title", "shortcut", "body")


@admin.register(HouseRule)
class HouseRuleAdmin(admin.ModelAdmin):
    list_display = ("title", "order", "active")
    list_editable = ("order", "active")


@admin.register(NoReplyReason)
class NoReplyReasonAdmin(admin.ModelAdmin):
    list_display = ("label", "order", "active")
    list_editable = ("order", "active")
