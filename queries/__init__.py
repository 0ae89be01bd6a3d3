"""The store: connection, schema migrations, named read queries and the load statements.

Never imports Textual: the console and the CLI ask this package for everything by name.
"""
