"""The asynchronous hand-written layer: the single source of truth from which ``_sync`` is generated."""
