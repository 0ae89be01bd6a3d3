"""What the tests share that is not a fixture: plain functions and constants, imported as
`support.…` (pytest puts tests/ on sys.path, see `pythonpath` in pyproject.toml).

Fixtures (set-up with a tear-down, or scoped to a test) live in the conftest.py files; what is
here is called from places a fixture cannot reach: helper functions, module constants and the
`run_before` callbacks of snapshot tests, which are handed only a Pilot.
"""
