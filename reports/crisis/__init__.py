"""Crisis clusters: near-identical and same-topic mentions of the crisis window, grouped by a
worker (clustering), read by the crisis pages (reads), acted on by a coordinator (actions)."""
