"""Turn IncomingMessages from a connector into Messages, Conversations and Contacts.

ingest_messages() is the only way messages enter the database. It is idempotent
(unique (channel, external_id), so a replayed or doubly delivered batch creates
nothing), saves the connector's cursor in the same transaction as the messages,
threads replies into their parent's conversation, reopens or follows up closed
conversations, puts a conversation waiting on the customer back to work when the
customer answers, and enriches new inbound messages.

Speed matters (>= 5,000 messages/s, DESIGN.md): work is set-based. On
PostgreSQL every write is one INSERT ... SELECT FROM unnest(arrays) or one
UPDATE ... FROM unnest(arrays) per batch, a handful of round trips per few
thousand messages. Other databases (the embedded SQLite default) take the
portable Django path (bulk_create / bulk_update) with the same decisions.

Concurrency: the channel row is locked (SELECT ... FOR UPDATE) for the whole
batch, so two workers ingesting one channel serialise instead of racing on the
threading decisions; the unique constraints stay the last line of defence.

Fail-safe: settings and heuristics never stop ingest. An SLA policy or calendar that
fails for a conversation, a routing rule that fails for one, or enrichment that
fails for a message is logged, and the message is stored all the same: without that
clock, unrouted, or unenriched. Each such message counts on the channel's health
(Channel.ingest_problem_count, last_ingest_problem) and a failing policy on the
policy (SlaPolicy.failure_count), where the settings pages show them.
"""

from inbox.services.ingest.batch import BATCH_SIZE, ingest_messages
from inbox.services.ingest.records import IngestResult

__all__ = ["BATCH_SIZE", "IngestResult", "ingest_messages"]
