"""Report renderers: one module per output format.  Pure (return text)."""
