"""/api/v1/: the schema, its docs, and the endpoints (one module of routes per area)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.views import me

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("me/", me.me, name="me"),
    path("", include("api.urls.conversations")),
    path("", include("api.urls.directory")),
]
