"""Public endpoints that platforms push to; the project urls include these under "hooks/"."""

from django.urls import path

from inbox.views import webhooks

app_name = "hooks"
urlpatterns = [
    path("meta/<int:channel_id>/", webhooks.meta_webhook, name="meta"),
    path("whatsapp/<int:channel_id>/", webhooks.whatsapp_webhook, name="whatsapp"),
    path("in/<int:channel_id>/", webhooks.generic_webhook, name="generic"),
]
