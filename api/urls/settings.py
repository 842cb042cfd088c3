"""Routes: Settings → API tokens (HTML pages, included under settings/tokens/)."""

from django.urls import path

from api.views import settings

app_name = "tokens"

urlpatterns = [
    path("", settings.token_list, name="list"),
    path("new/", settings.token_create, name="create"),
    path("new-service/", settings.service_token_create, name="service_create"),
    path("<int:pk>/revoke/", settings.token_revoke, name="revoke"),
]
