"""What a person types into a filter, as a pattern that matches it literally.

A filter matches text anywhere in a field, case-insensitively, and `*` stands for anything;
every other character means itself. SQL's own wildcards (`%`, `_`) and the escape character
(`\\`) in the text are escaped, so `r_tic` finds `r_tic` and not `rxtic`, and `%` finds a
percent sign, not every row. The statements compare with `ILIKE $text ESCAPE '\\'`.
"""

from __future__ import annotations

ESCAPE = "\\"


def contains(text: str) -> str:
    """The ILIKE pattern (escape `\\`) for fields that contain `text`."""
    literal = text.replace(ESCAPE, ESCAPE * 2)
    for wildcard in ("%", "_"):
        literal = literal.replace(wildcard, ESCAPE + wildcard)
    return "%" + literal.replace("*", "%") + "%"
