import factory
from django.utils import timezone

from inbox.models import Channel, Contact, Conversation, Message
from routing.models import Department
from webcare.accounts.models import User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = "staff"

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or PASSWORD)
        if create:
            user.save(update_fields=["password"])


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    kind = "x"
    name = factory.Sequence(lambda n: f"X @woonstad{n}")
    own_handles = factory.LazyFunction(lambda: ["woonstad"])
    keywords = factory.LazyFunction(lambda: ["woonstad"])


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    channel = factory.SubFactory(ChannelFactory)
    external_id = factory.Sequence(lambda n: f"author-{n}")
    handle = factory.Sequence(lambda n: f"huurder{n}")
    name = factory.Sequence(lambda n: f"Huurder {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    channel = factory.SubFactory(ChannelFactory)
    contact = factory.SubFactory(ContactFactory, channel=factory.SelfAttribute("..channel"))
    thread_key = factory.Sequence(lambda n: f"thread-{n}")
    snippet = "Mijn cv-ketel doet het weer niet, al drie dagen geen warm water."
    language = "nl"
    received_at = factory.LazyFunction(timezone.now)
    last_message_at = factory.LazyAttribute(lambda c: c.received_at)
    last_inbound_at = factory.LazyAttribute(lambda c: c.received_at)
    message_count = 1


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.SelfAttribute("conversation.channel")
    contact = factory.SelfAttribute("conversation.contact")
    external_id = factory.Sequence(lambda n: f"msg-{n}")
    text = factory.SelfAttribute("conversation.snippet")
    created_at = factory.SelfAttribute("conversation.received_at")
