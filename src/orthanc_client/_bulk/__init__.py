"""Moving many files: ``upload`` (folders, files, bytes, datasets), ``download`` and ``download_zip``, and
numpy volumes (``Series.to_numpy``): their inputs, results and progress, and the files read over the fast path.
"""
