"""The append-only audit log gets one narrow way to change: erasure scrubbing its data.

An event can carry personal data (a note, a reviewer's comment, a discarded reply's
text, the threat evidence's author and text). When a contact is erased on request
(AVG/GDPR art. 17) that data must go, while the record of who did what stays. So the
trigger now lets an UPDATE through only when all of these hold:

- the transaction said so: SET LOCAL webcare.audit_scrub = 'on' (only
  inbox.services.privacy does, around its scrub, and switches it off again);
- only the data column changes (id, conversation, actor, kind, time stay as they were);
- the row is not itself a privacy record (privacy_export, privacy_erasure).

Everything else, DELETE included, is refused as before. This guards against the app,
the admin and a careless psql session; the database owner could drop the trigger
anyway, which no trigger can prevent.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION inbox_conversationevent_append_only() RETURNS trigger AS $$
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
$$ LANGUAGE plpgsql;
"""
# Back to 0006's function: nothing may change.
RESTORE = """
CREATE OR REPLACE FUNCTION inbox_conversationevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'inbox_conversationevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("inbox", "0010_conversation_ingest_storage")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(RESTORE))]
