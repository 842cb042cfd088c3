from django.urls import path

from assist import views

app_name = "assist"

urlpatterns = [
    path("conversations/<int:pk>/suggestions/", views.suggestions, name="suggestions"),
]
