"""A touch's before/after as field changes: added, removed, changed, the same."""

from quarterdeck.console.cells import change
from quarterdeck.console.diff import diff


def test_every_field_is_classified() -> None:
    changes = diff(
        '{"status": "open", "owner": "a", "note": "x"}',
        '{"status": "posted", "owner": "a", "tag": ["q"]}',
    )
    assert [(c.field, c.kind) for c in changes] == [
        ("note", "removed"),
        ("owner", "same"),
        ("status", "changed"),
        ("tag", "added"),
    ]


def test_missing_or_broken_sides_are_empty() -> None:
    assert diff(None, None) == []
    assert [c.kind for c in diff(None, '{"a": 1}')] == ["added"]
    assert diff("not json", "[1, 2]") == []


def test_the_one_line_summary_shows_only_what_changed() -> None:
    assert change('{"status": "open", "owner": "a"}', '{"status": "posted", "owner": "a"}') == (
        "status: open → posted"
    )
    assert change(None, '{"title": "CTO"}') == "title: ∅ → CTO"
