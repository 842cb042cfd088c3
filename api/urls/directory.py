"""Routes: directory."""

urlpatterns: list = []
