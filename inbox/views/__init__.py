"""The inbox's pages and fragments, one module per area: the coordinator's inbox and triage
(inbox), the team queue and workspace (team), channels, notifications, spike alerts, the audit
log, privacy requests, and the public endpoints platforms push to (webhooks)."""
