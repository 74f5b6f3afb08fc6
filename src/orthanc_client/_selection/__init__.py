"""Selections: ``client.select(...)``, simple-orthanc's chained query API on top of ``find_*``.
"""
