"""Lab parts, one per control, run in name order by `make lab`."""
