"""The console's screens: the main panes, a run's detail, help."""
