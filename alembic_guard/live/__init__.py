"""The live edge: a schema model read from a real database."""
