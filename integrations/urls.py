from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.webhooks, name="webhooks"),
    path("new/", views.webhook_new, name="webhook_new"),
    path("<int:pk>/", views.webhook_log, name="webhook_log"),
    path("<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("<int:pk>/active/", views.webhook_active, name="webhook_active"),
    path("<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("<int:pk>/test/", views.webhook_test, name="webhook_test"),
]
