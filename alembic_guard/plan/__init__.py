"""Statement-level dependency planning.  Pure."""
