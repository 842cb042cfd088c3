from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from reports import views as reports_views
from webcare import health, metrics, two_factor, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("dashboards/", reports_views.dashboard, name="dashboards"),
    path("dashboards/", include("reports.urls")),
    path("settings/", views.settings_page, name="settings"),
    path("settings/tokens/", include("api.urls.settings")),
    path("settings/webhooks/", include("integrations.urls")),
    path("", include("inbox.urls")),
    path("routing/", include("routing.urls")),
    path("hooks/", include("inbox.webhook_urls")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    # Two-factor login, health and metrics.
    path("login/two-factor/", two_factor.two_factor_verify, name="two_factor_verify"),
    path("settings/two-factor/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("health/", health.health, name="health"),
    path("metrics/", metrics.metrics, name="metrics"),
]
