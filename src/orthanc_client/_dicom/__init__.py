"""DICOM knowledge without I/O: values (dates, numbers), tags by keyword or number, query values (date
ranges, wildcards), the header of a DICOM file up to its pixel data, and a quick scan of the tags that name
and identify an instance.
"""
