"""DICOM knowledge without I/O: values (dates, numbers), tags by keyword or number, query values (date
ranges, wildcards), and the header of a DICOM file up to its pixel data.
"""
