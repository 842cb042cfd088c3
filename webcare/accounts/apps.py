from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webcare.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Connects the login receiver that decides what two-factor step a session owes.
        from webcare import security  # noqa: F401
