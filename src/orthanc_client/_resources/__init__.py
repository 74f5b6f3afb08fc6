"""Patients, studies, series and instances: their tags, labels, metadata (with revisions), attachments,
anonymize/modify and pseudonyms, and ``find_*`` to get them.
"""
