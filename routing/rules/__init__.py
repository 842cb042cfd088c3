"""Routing rules: which team a new conversation is suggested for (or forwarded to), and its
priority. matching is pure (no database); apply runs the rules on new conversations; editing is
the coordinators' rule editor."""
