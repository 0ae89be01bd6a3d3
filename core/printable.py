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
- line and paragraph separators (U+2028, U+2029) as `\\u2028`;
- characters that take no room and so make one id look like another (`C-1` and `C-\\u200b1`
  are two records) or hide words in a reason: the zero-width space U+200B, the word joiner and
  invisible operators U+2060–U+2064, the deprecated format controls U+206A–U+206F, the
  zero-width no-break space (BOM) U+FEFF, the interlinear annotation marks U+FFF9–U+FFFB, as
  `\\u200b`; and the tag characters U+E0000–U+E007F (invisible ASCII that model output can
  carry) as `\\U000e0041`. The zero-width (non-)joiners U+200C and U+200D stay: emoji and
  several scripts need them.

`multiline=True` keeps newline and tab (a detail view or a report may show several lines);
a carriage return is always shown, since it returns the cursor over what was printed.

Stored values are never changed: this is for display only. JSON and CSV output keep the value
exactly, escaped as their format requires; `printable_json` writes the characters above that
JSON leaves as they are (all but C0) as `\\uXXXX` escapes, which a parser reads back as the
same value.

`PATTERN` is the set as a regular expression that Python's `re` and RE2 (Arrow's compute
functions) read alike, so a whole Arrow column can be checked at once.
"""

from __future__ import annotations

import re

#: (first, last) code points shown visibly, as the docstring lists them.
_SHOWN = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0xE0000, 0xE007F),
)


def _char(code: int) -> str:
    # `\xNN` below 0x100 (both engines read it, and a literal NUL cannot be passed to RE2);
    # the character itself above, which both read as a literal.
    return f"\\x{code:02x}" if code < 0x100 else chr(code)


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "[" + "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges) + "]"


#: Any character `printable` replaces (newline and tab included).
PATTERN = _class(_SHOWN)
_UNSAFE = re.compile(PATTERN)
_UNSAFE_KEEP_LINES = re.compile(_class(((0x00, 0x08), (0x0B, 0x1F), *_SHOWN[1:])))
_UNSAFE_IN_JSON = re.compile(_class(_SHOWN[1:]))  # JSON escapes C0 itself


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0x9F:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character shown visibly (see the module's docstring)."""
    pattern = _UNSAFE_KEEP_LINES if multiline else _UNSAFE
    if pattern.search(text) is None:  # the common case: nothing to replace, no copy
        return text
    return pattern.sub(_visible, text)


def printable_json(document: str) -> str:
    """A JSON text (as `json.dumps` writes it) with every character `printable` would show
    visibly written as a `\\uXXXX` escape: the same document to a parser, nothing in it that
    acts on a terminal. Outside its strings a JSON text is ASCII, so each one found is inside a
    string, where an escape is what JSON asks for."""
    if _UNSAFE_IN_JSON.search(document) is None:
        return document
    return _UNSAFE_IN_JSON.sub(_json_escape, document)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
