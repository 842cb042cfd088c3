"""Inbox's tables as the models describe them (generated), then, at the end, what the models
cannot say, carried by hand (each operation commented):

1. the audit log (inbox_conversationevent) is append-only in the database itself, with one
   narrow way through for erasure: PostgreSQL a trigger function, SQLite two triggers and a
   flag table;
2. full-text search's GIN index and the conversation table's fillfactor (PostgreSQL);
3. the default no-reply reasons and house rules.

The links to routing's teams follow in 0002, once routing's tables exist.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from webcare.migration_ops import RunSQLOn

# 1. Append-only audit log. Events can carry personal data (a note, a reviewer's comment, a
# discarded reply's text, threat evidence). When a contact is erased on request (GDPR art. 17)
# that data must go while the record of who did what stays, so an UPDATE passes only when all
# of these hold, and everything else, DELETE included, is refused:
# - the transaction asked for it: webcare.db.audit_scrub, which only inbox.services.privacy
#   uses around its scrub;
# - only the data column changes (id, conversation, actor, kind, time stay as they were);
# - the row is not itself a privacy record (privacy_export, privacy_erasure).
# This guards against the app, the admin and a careless SQL session, not against the database
# owner, who can drop a trigger.

# PostgreSQL: the permission is a transaction-local setting (SET LOCAL webcare.audit_scrub).
# TRUNCATE is left alone so that flush (and the test runner) can empty the database.
PG_AUDIT_FUNCTION = """
CREATE FUNCTION inbox_conversationevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('webcare.audit_scrub', true) = 'on'
       AND NEW.id = OLD.id
       AND NEW.conversation_id = OLD.conversation_id
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.kind = OLD.kind
       AND NEW.created_at = OLD.created_at
       AND OLD.kind NOT IN ('privacy_export', 'privacy_erasure')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'inbox_conversationevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
PG_AUDIT_TRIGGER = [
    PG_AUDIT_FUNCTION,
    "CREATE TRIGGER inbox_conversationevent_append_only"
    " BEFORE UPDATE OR DELETE ON inbox_conversationevent"
    " FOR EACH ROW EXECUTE FUNCTION inbox_conversationevent_append_only()",
]
PG_AUDIT_TRIGGER_DROP = [
    "DROP TRIGGER IF EXISTS inbox_conversationevent_append_only ON inbox_conversationevent",
    "DROP FUNCTION IF EXISTS inbox_conversationevent_append_only()",
]

# SQLite has no session setting a trigger can read: the permission is a row in a one-column
# table that webcare.db.audit_scrub inserts and deletes inside its own transaction, so no other
# connection ever sees it (on_ = 1). Flush has no TRUNCATE on SQLite, only DELETE: the project's
# backend (webcare.sqlite) brackets it with on_ = 2, which the delete trigger lets through.
# Django rebuilds a SQLite table (and drops its triggers) for many schema changes: a later
# migration that alters inbox_conversationevent must create these triggers again.
SQLITE_AUDIT_TRIGGER = [
    "CREATE TABLE webcare_audit_scrub (on_ integer NOT NULL)",
    """
    CREATE TRIGGER inbox_conversationevent_no_delete
    BEFORE DELETE ON inbox_conversationevent
    WHEN NOT EXISTS (SELECT 1 FROM webcare_audit_scrub WHERE on_ = 2)
    BEGIN
        SELECT RAISE(ABORT, 'inbox_conversationevent is append-only: DELETE refused');
    END
    """,
    """
    CREATE TRIGGER inbox_conversationevent_no_update
    BEFORE UPDATE ON inbox_conversationevent
    WHEN NOT (
        EXISTS (SELECT 1 FROM webcare_audit_scrub WHERE on_ = 1)
        AND NEW.id = OLD.id
        AND NEW.conversation_id = OLD.conversation_id
        AND NEW.actor_id IS OLD.actor_id
        AND NEW.kind = OLD.kind
        AND NEW.created_at = OLD.created_at
        AND OLD.kind NOT IN ('privacy_export', 'privacy_erasure')
    )
    BEGIN
        SELECT RAISE(ABORT, 'inbox_conversationevent is append-only: UPDATE refused');
    END
    """,
]
SQLITE_AUDIT_TRIGGER_DROP = [
    "DROP TRIGGER IF EXISTS inbox_conversationevent_no_update",
    "DROP TRIGGER IF EXISTS inbox_conversationevent_no_delete",
    "DROP TABLE IF EXISTS webcare_audit_scrub",
]

# 2. Full-text search over the conversation's snippet (its first inbound message) in Dutch and
# English: one GIN index over both tsvectors concatenated, the exact expression that
# inbox.selectors.inbox.search_filter renders (SearchVector(dutch) + SearchVector(english)),
# so the planner uses it. One index rather than one per language: every conversation row
# version pays one GIN insertion, with the lexemes both configurations share stored once.
# SQLite searches with icontains and needs no index.
PG_FTS_INDEX = [
    "CREATE INDEX conv_fts_idx ON inbox_conversation USING gin ("
    "(to_tsvector('dutch'::regconfig, COALESCE(snippet, ''))"
    " || to_tsvector('english'::regconfig, COALESCE(snippet, ''))))"
]
PG_FTS_INDEX_DROP = ["DROP INDEX IF EXISTS conv_fts_idx"]

# fillfactor 80: ingest updates stored conversations every batch (counts, last message time,
# flags), columns no index covers. With free room on the page PostgreSQL makes that a HOT
# update and skips every index; a full page (the default, 100) writes a new entry in each.
PG_CONVERSATION_STORAGE = ["ALTER TABLE inbox_conversation SET (fillfactor = 80)"]
PG_CONVERSATION_STORAGE_DROP = ["ALTER TABLE inbox_conversation RESET (fillfactor)"]

# 3. The configurable lists start with the usual entries; administrators edit them in the admin.
NO_REPLY_REASONS = ["Political remark", "Spam", "Handled elsewhere", "Praise acknowledged"]
HOUSE_RULES = [
    (
        "No threats or intimidation",
        "We remove messages that threaten or intimidate people, including our staff.",
    ),
    (
        "No discrimination or hate",
        "We remove messages that discriminate, insult or spread hate against people or groups.",
    ),
    (
        "No personal data of others",
        "We remove messages that share someone else's address, phone number or other personal data.",
    ),
    ("No spam or advertising", "We remove spam, advertising and repeated identical messages."),
]


def seed_lists(apps, schema_editor):
    NoReplyReason = apps.get_model("inbox", "NoReplyReason")
    HouseRule = apps.get_model("inbox", "HouseRule")
    NoReplyReason.objects.bulk_create(
        NoReplyReason(label=label, order=order) for order, label in enumerate(NO_REPLY_REASONS)
    )
    HouseRule.objects.bulk_create(
        HouseRule(title=title, text=text, order=order)
        for order, (title, text) in enumerate(HOUSE_RULES)
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Channel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("x", "X"),
                            ("facebook", "Facebook"),
                            ("instagram", "Instagram"),
                            ("mastodon", "Mastodon"),
                            ("bluesky", "Bluesky"),
                            ("rss", "RSS/Atom"),
                            ("email", "E-mail"),
                            ("webhook", "Signed webhook"),
                            ("simulator", "Simulator"),
                        ],
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="display name")),
                (
                    "own_handles",
                    models.JSONField(
                        blank=True, default=list, verbose_name="our own account handles"
                    ),
                ),
                (
                    "keywords",
                    models.JSONField(blank=True, default=list, verbose_name="keywords to monitor"),
                ),
                ("credentials_encrypted", models.TextField(blank=True, default="", editable=False)),
                ("config", models.JSONField(blank=True, default=dict, verbose_name="settings")),
                (
                    "poll_interval_seconds",
                    models.PositiveIntegerField(default=60, verbose_name="poll interval (seconds)"),
                ),
                ("enabled", models.BooleanField(default=True, verbose_name="enabled")),
                ("cursor", models.JSONField(blank=True, default=dict, editable=False)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("ok", "OK"),
                            ("rate_limited", "Rate limited"),
                            ("failing", "Failing"),
                            ("error", "Error (needs attention)"),
                        ],
                        default="ok",
                        max_length=20,
                    ),
                ),
                ("next_poll_at", models.DateTimeField(blank=True, null=True)),
                ("last_poll_started_at", models.DateTimeField(blank=True, null=True)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, default="")),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("rate_limit_reset_at", models.DateTimeField(blank=True, null=True)),
                ("ingest_day", models.DateField(blank=True, editable=False, null=True)),
                ("ingest_day_count", models.PositiveIntegerField(default=0, editable=False)),
                ("ingest_problem_count", models.PositiveIntegerField(default=0, editable=False)),
                ("last_ingest_problem", models.TextField(blank=True, default="", editable=False)),
                (
                    "last_ingest_problem_at",
                    models.DateTimeField(blank=True, editable=False, null=True),
                ),
                ("poll_claimed_until", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "reviewed_replies_only",
                    models.BooleanField(
                        default=False, verbose_name="only reviewed replies may be sent"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "channel",
                "verbose_name_plural": "channels",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="FaqSet",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("topic", models.CharField(max_length=200, verbose_name="topic")),
                (
                    "description",
                    models.TextField(blank=True, default="", verbose_name="description"),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "FAQ set",
                "verbose_name_plural": "FAQ sets",
                "ordering": ["topic"],
            },
        ),
        migrations.CreateModel(
            name="HouseRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=120, unique=True, verbose_name="title")),
                ("text", models.TextField(verbose_name="text")),
                ("order", models.PositiveIntegerField(default=0, verbose_name="order")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
            ],
            options={
                "verbose_name": "house rule",
                "verbose_name_plural": "house rules",
                "ordering": ["order", "title"],
            },
        ),
        migrations.CreateModel(
            name="NoReplyReason",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("label", models.CharField(max_length=120, unique=True, verbose_name="label")),
                ("order", models.PositiveIntegerField(default=0, verbose_name="order")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
            ],
            options={
                "verbose_name": "no-reply reason",
                "verbose_name_plural": "no-reply reasons",
                "ordering": ["order", "label"],
            },
        ),
        migrations.CreateModel(
            name="RetentionCursor",
            fields=[
                (
                    "channel",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="retention_cursor",
                        serialize=False,
                        to="inbox.channel",
                    ),
                ),
                ("message_created_at", models.DateTimeField(blank=True, null=True)),
                ("message_id", models.BigIntegerField(default=0)),
                ("contact_id", models.BigIntegerField(default=0)),
                ("pass_started_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "retention progress",
                "verbose_name_plural": "retention progress",
            },
        ),
        migrations.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("external_id", models.CharField(max_length=255)),
                (
                    "handle",
                    models.CharField(blank=True, default="", max_length=255, verbose_name="handle"),
                ),
                (
                    "name",
                    models.CharField(blank=True, default="", max_length=255, verbose_name="name"),
                ),
                ("avatar_url", models.URLField(blank=True, default="", max_length=1000)),
                ("profile_url", models.URLField(blank=True, default="", max_length=1000)),
                ("tags", models.JSONField(blank=True, default=list, verbose_name="tags")),
                ("is_blocked", models.BooleanField(default=False, verbose_name="blocked")),
                ("is_fake", models.BooleanField(default=False, verbose_name="fake account")),
                ("is_own_account", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("anonymised_at", models.DateTimeField(blank=True, null=True)),
                (
                    "channel",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contacts",
                        to="inbox.channel",
                    ),
                ),
            ],
            options={
                "verbose_name": "contact",
                "verbose_name_plural": "contacts",
            },
        ),
        migrations.CreateModel(
            name="ContactNote",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField(verbose_name="note")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "author",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notes",
                        to="inbox.contact",
                    ),
                ),
            ],
            options={
                "verbose_name": "contact note",
                "verbose_name_plural": "contact notes",
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="Conversation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("thread_key", models.CharField(max_length=255)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("new", "New"),
                            ("triaged", "Triaged"),
                            ("assigned", "Assigned"),
                            ("answered", "Answered"),
                            ("waiting", "Waiting on customer"),
                            ("closed", "Closed"),
                            ("no_reply_needed", "No reply needed"),
                            ("hidden", "Hidden"),
                        ],
                        default="new",
                        max_length=20,
                        verbose_name="status",
                    ),
                ),
                ("status_reason", models.TextField(blank=True, default="", verbose_name="reason")),
                (
                    "priority",
                    models.SmallIntegerField(
                        choices=[(0, "Low"), (1, "Normal"), (2, "High"), (3, "Urgent")],
                        default=1,
                        verbose_name="priority",
                    ),
                ),
                (
                    "language",
                    models.CharField(blank=True, default="", max_length=8, verbose_name="language"),
                ),
                (
                    "sentiment",
                    models.CharField(
                        choices=[
                            ("negative", "Negative"),
                            ("neutral", "Neutral"),
                            ("positive", "Positive"),
                        ],
                        default="neutral",
                        max_length=10,
                        verbose_name="sentiment",
                    ),
                ),
                ("flags", models.IntegerField(default=0)),
                ("snippet", models.CharField(blank=True, default="", max_length=280)),
                ("is_public", models.BooleanField(default=True)),
                ("message_count", models.PositiveIntegerField(default=0)),
                ("received_at", models.DateTimeField()),
                ("last_message_at", models.DateTimeField()),
                ("last_inbound_at", models.DateTimeField(blank=True, null=True)),
                ("version", models.PositiveIntegerField(default=1)),
                ("first_response_at", models.DateTimeField(blank=True, null=True)),
                ("first_response_due_at", models.DateTimeField(blank=True, null=True)),
                ("next_response_due_at", models.DateTimeField(blank=True, null=True)),
                ("resolution_due_at", models.DateTimeField(blank=True, null=True)),
                ("sla_warn_at", models.DateTimeField(blank=True, null=True)),
                ("sla_due_at", models.DateTimeField(blank=True, null=True)),
                (
                    "sla_state",
                    models.CharField(
                        choices=[
                            ("none", "No SLA"),
                            ("ok", "On time"),
                            ("at_risk", "At risk"),
                            ("overdue", "Overdue"),
                        ],
                        default="none",
                        max_length=10,
                    ),
                ),
                ("sla_paused_at", models.DateTimeField(blank=True, null=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assigned_conversations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "channel",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to="inbox.channel",
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to="inbox.contact",
                    ),
                ),
                (
                    "merged_into",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="merged",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "previous",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="followups",
                        to="inbox.conversation",
                    ),
                ),
            ],
            options={
                "verbose_name": "conversation",
                "verbose_name_plural": "conversations",
            },
        ),
        migrations.CreateModel(
            name="ConversationEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=40)),
                ("data", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="inbox.conversation",
                    ),
                ),
            ],
            options={
                "verbose_name": "audit event",
                "verbose_name_plural": "audit events",
            },
        ),
        migrations.CreateModel(
            name="CannedAnswer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("language", models.CharField(default="nl", max_length=8, verbose_name="language")),
                ("title", models.CharField(max_length=200, verbose_name="title")),
                ("shortcut", models.SlugField(blank=True, default="", verbose_name="shortcut")),
                (
                    "body",
                    models.TextField(
                        help_text="Variables: {{contact_name}}, {{contact_handle}}, {{agent_name}}, {{agent_initials}}, {{team}}, {{conversation_id}}, {{channel}}.",
                        verbose_name="text",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "faq_set",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="answers",
                        to="inbox.faqset",
                    ),
                ),
            ],
            options={
                "verbose_name": "canned answer",
                "verbose_name_plural": "canned answers",
                "ordering": ["title"],
            },
        ),
        migrations.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("external_id", models.CharField(max_length=255)),
                ("parent_external_id", models.CharField(blank=True, default="", max_length=255)),
                (
                    "direction",
                    models.CharField(
                        choices=[("in", "Inbound"), ("out", "Outbound")], default="in", max_length=3
                    ),
                ),
                ("text", models.TextField(blank=True, default="")),
                ("url", models.URLField(blank=True, default="", max_length=1000)),
                ("is_public", models.BooleanField(default=True)),
                ("is_automatic", models.BooleanField(default=False)),
                ("language", models.CharField(blank=True, default="", max_length=8)),
                (
                    "sentiment",
                    models.CharField(
                        choices=[
                            ("negative", "Negative"),
                            ("neutral", "Neutral"),
                            ("positive", "Positive"),
                        ],
                        default="neutral",
                        max_length=10,
                    ),
                ),
                ("flags", models.IntegerField(default=0)),
                ("created_at", models.DateTimeField()),
                ("ingested_at", models.DateTimeField(auto_now_add=True)),
                ("raw", models.JSONField(blank=True, default=dict)),
                (
                    "channel",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="inbox.channel",
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="messages",
                        to="inbox.contact",
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "sent_by",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="sent_messages",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "message",
                "verbose_name_plural": "messages",
            },
        ),
        migrations.CreateModel(
            name="Note",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField(verbose_name="note")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "author",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="notes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notes",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "mentioned",
                    models.ManyToManyField(
                        blank=True, related_name="mentioned_in_notes", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "verbose_name": "note",
                "verbose_name_plural": "notes",
            },
        ),
        migrations.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=40)),
                ("text", models.CharField(max_length=500)),
                ("url", models.CharField(blank=True, default="", max_length=500)),
                ("dedupe_key", models.CharField(blank=True, default="", max_length=200)),
                ("read_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "notification",
                "verbose_name_plural": "notifications",
            },
        ),
        migrations.CreateModel(
            name="Reply",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("pending_review", "Waiting for review"),
                            ("approved", "Approved, queued"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                            ("unknown", "Outcome unknown, checking"),
                        ],
                        default="draft",
                        max_length=20,
                        verbose_name="state",
                    ),
                ),
                ("text", models.TextField(verbose_name="reply")),
                ("private", models.BooleanField(default=False, verbose_name="private message")),
                (
                    "after_send",
                    models.CharField(
                        choices=[
                            ("answered", "Answered"),
                            ("waiting", "Wait for the customer"),
                            ("close", "Close"),
                        ],
                        default="answered",
                        max_length=10,
                        verbose_name="after sending",
                    ),
                ),
                (
                    "review_comment",
                    models.TextField(blank=True, default="", verbose_name="review comment"),
                ),
                ("parts", models.JSONField(blank=True, default=list)),
                ("posted_ids", models.JSONField(blank=True, default=list)),
                ("external_id", models.CharField(blank=True, default="", max_length=255)),
                ("external_url", models.URLField(blank=True, default="", max_length=1000)),
                ("last_error", models.TextField(blank=True, default="")),
                ("attempt_count", models.PositiveIntegerField(default=0)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("approved_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="replies",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="replies",
                        to="inbox.conversation",
                    ),
                ),
                (
                    "notice_for",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="public_notice",
                        to="inbox.reply",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reviewed_replies",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "reply",
                "verbose_name_plural": "replies",
            },
        ),
        migrations.CreateModel(
            name="ReplyAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("part_index", models.PositiveIntegerField(default=0)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("pending", "In progress"),
                            ("sent", "Posted"),
                            ("found", "Found on the platform after an unknown outcome"),
                            ("not_found", "Checked: not posted"),
                            ("failed", "Failed (not posted)"),
                            ("unknown", "Outcome unknown"),
                        ],
                        default="pending",
                        max_length=12,
                    ),
                ),
                ("external_id", models.CharField(blank=True, default="", max_length=255)),
                ("error", models.TextField(blank=True, default="")),
                ("worker", models.CharField(blank=True, default="", max_length=200)),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "reply",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempts",
                        to="inbox.reply",
                    ),
                ),
            ],
            options={
                "ordering": ["reply", "number"],
            },
        ),
        migrations.CreateModel(
            name="ReplyVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("text", models.TextField()),
                ("reason", models.CharField(default="draft", max_length=20)),
                ("comment", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "editor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "reply",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="inbox.reply",
                    ),
                ),
            ],
            options={
                "ordering": ["reply", "number"],
            },
        ),
        migrations.CreateModel(
            name="SavedView",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=80, verbose_name="name")),
                (
                    "query",
                    models.CharField(
                        blank=True, default="", max_length=1000, verbose_name="filter"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_views",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "saved view",
                "verbose_name_plural": "saved views",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="SpikeAlert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "keyword",
                    models.CharField(
                        blank=True, default="", max_length=100, verbose_name="keyword"
                    ),
                ),
                ("window_start", models.DateTimeField()),
                (
                    "count",
                    models.PositiveIntegerField(verbose_name="messages in the last 15 minutes"),
                ),
                ("baseline", models.FloatField(verbose_name="usual number")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spike_alerts",
                        to="inbox.channel",
                    ),
                ),
            ],
            options={
                "verbose_name": "spike alert",
                "verbose_name_plural": "spike alerts",
            },
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                fields=("channel", "external_id"), name="contact_channel_external_id"
            ),
        ),
        migrations.AddIndex(
            model_name="contactnote",
            index=models.Index(fields=["contact", "-created_at"], name="contact_note_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(
                    ("status__in", ["new", "triaged", "assigned", "answered", "waiting"])
                ),
                fields=["-received_at", "-id"],
                name="conv_open_inbox_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["status", "-received_at", "-id"], name="conv_status_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("sla_state", "ok")),
                fields=["sla_warn_at"],
                name="conv_sla_warn_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("sla_state__in", ["ok", "at_risk"])),
                fields=["sla_due_at"],
                name="conv_sla_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["channel", "thread_key"], name="conv_channel_thread_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["contact", "-received_at"], name="conv_contact_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("previous__isnull", False)),
                fields=["previous"],
                name="conv_previous_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("merged_into__isnull", False)),
                fields=["merged_into"],
                name="conv_merged_into_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("assignee__isnull", False)),
                fields=["assignee"],
                name="conv_assignee_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("status__in", ["new", "triaged", "assigned", "answered", "waiting"])
                ),
                fields=("channel", "thread_key"),
                name="conversation_one_open_per_thread",
            ),
        ),
        migrations.AddIndex(
            model_name="conversationevent",
            index=models.Index(
                fields=["conversation", "created_at"], name="event_conversation_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="conversationevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="event_actor_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["conversation", "created_at", "id"], name="msg_conversation_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["channel", "created_at"], name="msg_channel_created_idx"),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("sent_by__isnull", False)),
                fields=["sent_by"],
                name="msg_sent_by_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                fields=("channel", "external_id"), name="message_channel_external_id"
            ),
        ),
        migrations.AddIndex(
            model_name="note",
            index=models.Index(fields=["conversation", "created_at"], name="note_conversation_idx"),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                fields=["user", "read_at", "-created_at"], name="notification_user_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                condition=models.Q(("dedupe_key", ""), _negated=True),
                fields=("user", "dedupe_key"),
                name="notification_dedupe",
            ),
        ),
        migrations.AddIndex(
            model_name="reply",
            index=models.Index(
                fields=["conversation", "created_at"], name="reply_conversation_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="reply",
            index=models.Index(
                condition=models.Q(("state__in", ["sending", "unknown"])),
                fields=["lease_until"],
                name="reply_outbox_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="replyattempt",
            constraint=models.UniqueConstraint(
                fields=("reply", "number"), name="reply_attempt_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="replyversion",
            constraint=models.UniqueConstraint(
                fields=("reply", "number"), name="reply_version_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="savedview",
            constraint=models.UniqueConstraint(
                fields=("user", "name"), name="saved_view_user_name"
            ),
        ),
        migrations.AddIndex(
            model_name="spikealert",
            index=models.Index(fields=["-created_at"], name="spikealert_recent_idx"),
        ),
        migrations.AddConstraint(
            model_name="spikealert",
            constraint=models.UniqueConstraint(
                fields=("channel", "keyword", "window_start"), name="spikealert_once_per_window"
            ),
        ),
        # Carried by hand (see the module docstring and the comments above the SQL).
        RunSQLOn("postgresql", PG_AUDIT_TRIGGER, PG_AUDIT_TRIGGER_DROP),
        RunSQLOn("sqlite", SQLITE_AUDIT_TRIGGER, SQLITE_AUDIT_TRIGGER_DROP),
        RunSQLOn("postgresql", PG_FTS_INDEX, PG_FTS_INDEX_DROP),
        RunSQLOn("postgresql", PG_CONVERSATION_STORAGE, PG_CONVERSATION_STORAGE_DROP),
        migrations.RunPython(seed_lists, migrations.RunPython.noop),
    ]
