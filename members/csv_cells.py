"""One CSV cell made safe for a spreadsheet (OWASP "CSV injection"), shared by every CSV staff download.

A cell that Excel, LibreOffice or Google Sheets would evaluate as a formula (its first character is
``= + - @``, a tab or a carriage return, or the full-width ``＝ ＋ － ＠`` that some spreadsheets fold to
ASCII) is prefixed with a single quote, so a name like ``=HYPERLINK(...)`` reaches the reader as text.
A cell that is a plain number (``-12.5``, a negative kWh adjustment) is left alone.

Used by disclosures.rendering (every release and the auditors' CSV downloads) and the Red Flags annual
review; it lives in ``members`` (the lowest layer) so every app may import it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def is_plain_number(text: str) -> bool:
    try:
        Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    return text.strip() == text and text.lstrip("+-").replace(".", "", 1).isdigit() and text.isascii()


def csv_safe(value) -> str:
    """One CSV cell as text, neutralised if a spreadsheet would read it as a formula."""
    if value.__class__ is str:  # the common case, kept cheap: 100,000 members x a dozen cells
        if not value or not value.startswith(FORMULA_TRIGGERS):
            return value
        return value if is_plain_number(value) else "'" + value
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(FORMULA_TRIGGERS) and not is_plain_number(text):
        return "'" + text
    return text
