"""The local lab: services on loopback and sample data for `make lab` and the tests (not shipped)."""
