"""Watching and routing: ``ChangeWatcher`` (Orthanc's change feed, with a committed cursor), ``Router`` (rules
that send, anonymize or label what arrives) and ``FolderWatcher`` (files dropped in a folder).
"""
