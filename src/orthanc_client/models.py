"""Typed request bodies (pydantic) for the Orthanc routes whose spec describes them.

Example::

    from orthanc_client.models import PostToolsFindBody

    client.post_tools_find(PostToolsFindBody(level="Study", query={"PatientID": "P1*"}, expand=True))

Imported on demand, so that ``import orthanc_client`` does not pay for pydantic.
"""

from ._generated.models import *  # noqa: F401,F403
from ._generated.models import __all__ as __all__  # noqa: F401
