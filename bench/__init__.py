"""Benchmarks: this library against its peer (pyorthanc 1.23.0) and plain httpx, same server, same run."""
