"""DICOMweb (QIDO-RS, WADO-RS, WADO-URI, STOW-RS) through Orthanc's DICOMweb plugin: ``client.dicomweb``.
"""
