"""Text from logs made safe to print: no byte of it can drive the operator's terminal.

Record ids, names, reasons and errors come from runners and, through them, from model output.
Written to a terminal as they are, an ESC or CSI sequence can clear the screen, set the
window title or repaint a row (hide an out-of-scope touch, fake an "approved"), and a
bidirectional override can make `approved` read as something else. So every value shown to a
person goes through `printable`, which keeps what is ordinary text and shows each control
character visibly:

- C0 controls (U+0000–U+001F) and DEL as their Unicode control pictures (ESC is `␛`, BEL `␇`,
  NUL `␀`, DEL `␡`) — one cell each, so tables keep their columns;
- C1 controls (U+0080–U+009F, such as the one-byte CSI U+009B) as `\\x9b`;
- bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the
  invisible direction marks (U+200E, U+200F, U+061C) as `\\u202e`;
- line and paragraph separators (U+2028, U+2029) as `\\u2028`.

`multiline=True` keeps newline and tab (a detail view or a report may show several lines);
a carriage return is always shown, since it returns the cursor over what was printed.

Stored values are never changed: this is for display only. JSON and CSV output keep the value
exactly, escaped as their format requires.
"""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SEPARATORS = "\u2028\u2029"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character shown visibly (see the module's docstring)."""
    pattern = _UNSAFE_KEEP_LINES if multiline else _UNSAFE
    if pattern.search(text) is None:  # the common case: nothing to replace, no copy
        return text
    return pattern.sub(_visible, text)


def is_printable(text: str, *, multiline: bool = False) -> bool:
    """True when `printable` would return `text` unchanged."""
    return (_UNSAFE_KEEP_LINES if multiline else _UNSAFE).search(text) is None
