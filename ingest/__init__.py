"""Reading run logs and approval records, validating them, and loading them into the store.

Never imports Textual: the ingester runs headless (CLI, follower thread, tests).
"""
