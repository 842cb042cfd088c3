from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webcare.accounts"
    label = "accounts"
    verbose_name = "Accounts"
