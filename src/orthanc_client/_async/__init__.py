"""The hand-written high-level layer: ``_async/`` is its one source, ``_sync/`` is written from it by
``tools/unasync.py``."""
