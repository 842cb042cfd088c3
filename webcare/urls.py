from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from inbox import views_audit, views_privacy
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
    path("", include("inbox.urls")),
    path("routing/", include("routing.urls")),
    path("hooks/", include("inbox.webhook_urls")),
    path("admin/", admin.site.urls),
    # Hardening (issue 8): two-factor login, audit log, privacy requests, health and metrics.
    path("login/two-factor/", two_factor.two_factor_verify, name="two_factor_verify"),
    path("settings/two-factor/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("audit/", views_audit.audit_log, name="audit_log"),
    path("audit/export.csv", views_audit.audit_export, name="audit_export"),
    path("privacy/", views_privacy.privacy_contacts, name="privacy_contacts"),
    path(
        "privacy/contacts/<int:contact_id>/", views_privacy.privacy_contact, name="privacy_contact"
    ),
    path(
        "privacy/contacts/<int:contact_id>/export/",
        views_privacy.privacy_export,
        name="privacy_export",
    ),
    path(
        "privacy/contacts/<int:contact_id>/erase/",
        views_privacy.privacy_erase,
        name="privacy_erase",
    ),
    path("health/", health.health, name="health"),
    path("metrics/", metrics.metrics, name="metrics"),
]
