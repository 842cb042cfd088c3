"""Incremental rollups: turn new messages and audit events into counters and duration bins.

run.run_rollups() is what the beat task calls every minute and what rebuild_rollups
calls from scratch. It reads messages with an id above a stored watermark, in
id order, in batches; each batch is one transaction that locks the watermark
row (SELECT ... FOR UPDATE), so two workers never count a message twice and a
crash leaves the watermark where the last committed batch put it.

What counts (the definitions page says the same, tests/reports/test_definitions.py proves it):
- inbound message: volume (per hour and day), sentiment, flags, keywords;
  the first one of a conversation starts its clock.
- outbound message that is not automatic (sent by an agent, or posted by our
  own account outside the app and ingested): a response. The first one after
  the conversation's first customer message is its first response (calendar
  and business seconds), credited to the agent who sent it; a later one after a
  new customer message (also after a reopen) is a next response.
- a conversation closed for the first time: its resolution time, from the first
  customer message to the close.
- a conversation whose first message replies to a message the inbox did not have (an "orphan"
  start: a sample or a new channel begins mid-thread) is marked on its clock when the clock
  starts. Its conversation figures are counted as usual, and every other conversation's are
  counted once more under the metric with the NO_ORPHANS suffix: the figures without orphans.
Figures are filed under the local day (settings.TIME_ZONE) the event happened,
and under the conversation's department at the time they are counted.

The modules, each importing only those above it:
- metrics: the names figures and watermarks are stored under (the selectors read them too).
- batch: the accumulator one batch fills and writes with one upsert per table.
- labels: the label figures, reconciled per conversation with what it has now (both batches
  and rebuild_labels call it).
- messages, events: the two batches (messages and clocks; closes from the audit events).
- backlog: hourly snapshots of the open and overdue backlog.
- windows: the standard periods' whole days, merged once a day.
- run: run_rollups and reset_rollups.
"""
