"""Compatibility layers that let code written for other Orthanc clients run on orthanc-client.

``orthanc_client.compat.pyorthanc`` mirrors pyorthanc 1.23.0: change ``import pyorthanc`` to
``from orthanc_client.compat import pyorthanc`` (or ``import orthanc_client.compat.pyorthanc as pyorthanc``)
and the rest of the script stays as it is. See ``docs/migrating-from-pyorthanc.md``.

``orthanc_client.compat.simple_orthanc`` mirrors simple-orthanc 0.9.9.6 (``from simple_orthanc import Orthanc``
becomes ``from orthanc_client.compat.simple_orthanc import Orthanc``). See ``docs/migrating-from-simple-orthanc.md``.
"""
