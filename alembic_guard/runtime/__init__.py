"""Running migrations: advisory lock, ledger, pre-flight, policies."""
