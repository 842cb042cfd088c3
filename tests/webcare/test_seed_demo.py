import pytest
from django.core.management import call_command

from inbox.models import Conversation, Message
from routing.models import Department
from webcare.accounts.models import User

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_organisation_and_is_idempotent(client, capsys):
    call_command("seed_demo", airline=5)
    out = capsys.readouterr().out
    assert "webcare-demo" in out
    assert {"Klantenservice", "Reparaties & Onderhoud", "Huur & Betalingen"} <= set(
        Department.objects.values_list("name", flat=True)
    )
    roles = set(User.objects.values_list("role", flat=True))
    assert roles == {"coordinator", "staff", "manager", "admin"}
    conversations, messages = Conversation.objects.count(), Message.objects.count()
    assert conversations >= 18
    assert Message.objects.filter(direction="out").exists()  # our own earlier answers are outbound

    call_command("seed_demo", airline=5)
    assert (Conversation.objects.count(), Message.objects.count()) == (conversations, messages)

    assert client.login(username="coordinator", password="webcare-demo")
    response = client.get("/inbox/")
    assert response.status_code == 200
    assert "cv-ketel" in response.content.decode()
