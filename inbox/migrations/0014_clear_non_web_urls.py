"""Clear links stored before ingest kept only http(s) URLs (issue 8: a platform-supplied
`javascript:` or `data:` URL reached href/src). Data only; running it twice changes nothing."""

from django.db import migrations

# (model, URL fields): every URL ingest takes from a platform.
URL_FIELDS = (("Message", ("url",)), ("Contact", ("avatar_url", "profile_url")))


def clear_non_web_urls(apps, schema_editor):
    for model_name, fields in URL_FIELDS:
        model = apps.get_model("inbox", model_name)
        for name in fields:
            (
                model.objects.exclude(**{name: ""})
                .exclude(**{f"{name}__istartswith": "http://"})
                .exclude(**{f"{name}__istartswith": "https://"})
                .update(**{name: ""})
            )


class Migration(migrations.Migration):
    dependencies = [("inbox", "0013_retention_cursor")]

    operations = [
        migrations.RunPython(clear_non_web_urls, migrations.RunPython.noop, elidable=True)
    ]
