"""DICOM networking: ``Modality`` (C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE), ``Peer`` (Orthanc peers), and
``transfer`` (the pull: C-FIND then C-MOVE by accession number, resumable from a manifest).
"""
