"""`quarterdeck serve`: one long-running process per store that owns it and answers clients.

While it runs it is the only process that opens the DuckDB file: it follows the logs, evaluates
the triggers and records every decision, and the command line asks it over a Unix socket
instead of opening the store (DESIGN §1, §9). One module for each job:

    peer.py      who a client is: the uid the kernel reports for the socket, as a login name
    readers.py   the read cursors: one per worker thread, kept between requests
    recorder.py  the single recorder: every decision planned and recorded under one lock
    routes.py    the HTTP surface: named queries (Arrow IPC), decisions, status
    serve.py     the process: the socket, permissions, signals, follower and trigger threads,
                 checkpoints and the watchdog

Headless: nothing here imports Textual, the console or the command line.
"""
