"""Simulated runners: honest producers of the v1 run-event format (sample fleets, the demo).

Nothing here imports the store or the console; it only writes log files, as a real runner would.
"""
