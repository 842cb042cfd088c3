"""One guard for every CSV export against formula injection (OWASP "CSV Injection").

A spreadsheet runs a cell that starts with = + - @ (or a tab / carriage return, which
some programs strip before they look) as a formula; text from a platform or a user
must never do that. Such a cell gets a leading apostrophe, which spreadsheets show as
"text". Anything else, the empty cell included, goes out unchanged, and numbers stay
numbers (a negative count is not a formula).
"""

from __future__ import annotations

from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """value as it may go into a CSV cell: numbers as they are, text defused if need be."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int: fine too
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(values) -> list[object]:
    return [safe_cell(value) for value in values]
