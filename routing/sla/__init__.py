"""SLA clocks: policies and business calendars decide when a conversation is due.

- arithmetic: pure business-time arithmetic on a calendar (open hours, holidays, pauses).
- policies: which policy and calendar apply, the models turned into what the arithmetic reads.
- clocks: starting, stopping, pausing clocks and keeping the conversation's due times in step.
- hooks: what other code calls when a conversation changes (one and bulk); apart from clocks
  because together they would be over a thousand lines.
- sweep: the beat task's work, marking at risk / overdue through partial indexes.
- escalation: who is notified of it (team, coordinators, on call) and the optional webhook.

Each module imports only those above it in this list, and none imports a task: the sweep
schedules the notifications by name through webcare.jobs.
"""
