"""One half of this package: `_async/` is the source, `_sync/` is written from it by `tools/unasync.py`."""
