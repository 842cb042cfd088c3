from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import post_delete, post_save

        from webcare import refcache

        # What webcare.refcache holds copies of (inbox.selectors.team, the options of inbox.forms):
        # a change clears them.
        for model in (
            "routing.Department",
            "routing.Membership",
            settings.AUTH_USER_MODEL,
            "inbox.FaqSet",
            "inbox.CannedAnswer",
            "inbox.NoReplyReason",
            "inbox.HouseRule",
            "inbox.Label",
        ):
            for signal in (post_save, post_delete):
                signal.connect(refcache.clear, sender=model, dispatch_uid=f"refcache-{model}")
