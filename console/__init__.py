"""The console: the Textual app (screens, widgets, styles) and the `quarterdeck` command.

Asks `queries` for everything by name and never writes SQL itself.
"""
