"""Teams (departments) and their members, routing rules (routing.rules) and SLA clocks
(routing.sla): models, forms, views and the beat tasks (routing.tasks) of both."""
