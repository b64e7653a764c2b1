"""One module per lab service; each defines ``service(lab) -> lab.harness.Service``."""
