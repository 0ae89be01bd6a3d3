"""Quarterdeck: a terminal operations console for governed AI workflow runs.

Everything imports as `quarterdeck.…`. The repository keeps one folder per layer, mapped onto
this namespace by the package-dir table in pyproject.toml:

    core/     -> quarterdeck          what the console, the command line and the server share,
                                      headless: config, output formats, evidence bundles, the
                                      decision desk, the trigger watch, the demo's set-up, the
                                      server's client
    ingest/   -> quarterdeck.ingest   reading, validating and loading logs and traces
    queries/  -> quarterdeck.queries  the store: schema, writes, named read queries, decisions
    console/  -> quarterdeck.console  the Textual app, and nothing else
    cli/      -> quarterdeck.cli      the command line
    runner/   -> quarterdeck.runner   simulated runners (the demo's, the tests')
    server/   -> quarterdeck.server   `quarterdeck serve`: owns a store, answers clients

The layers only import downwards: ingest, queries and server never import Textual, the console
or the command line (tests/test_architecture.py checks every module found on disk).
"""

__version__ = "0.1.0"
