"""The orthanc-client code generator: Orthanc OpenAPI specs in, ``orthanc_client._generated`` out.

Run it as ``python -m generator`` (``make generate``). See ``generator/README.md``.
"""
