"""Orthanc jobs: ``Job`` (wait, pause, resume, cancel, retry) and their states.
"""
