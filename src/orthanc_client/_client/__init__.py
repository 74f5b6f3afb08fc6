"""The client object, ``Orthanc`` / ``AsyncOrthanc``: the generated routes plus the transport that owns the
connection pool, retries, deadlines, the version gate, redirects and the nodes of a cluster.
"""
