"""Reads and permission-checking getters: the coordinator's inbox (inbox) and the teams' queues,
conversation pages and who may do what (team)."""
