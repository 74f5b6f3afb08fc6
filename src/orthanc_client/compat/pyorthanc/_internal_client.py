"""``get_internal_client``: a client for scripts running inside Orthanc's Python plugin."""

from __future__ import annotations

import json

from .client import Orthanc
from .errors import NotInInternalEnvironmentError


def get_internal_client() -> Orthanc:
    """An ``Orthanc`` on the local server, authorized with the plugin's REST token.

    Raises ``NotInInternalEnvironmentError`` outside the Orthanc Python plugin.
    """
    from . import orthanc_sdk

    config = orthanc_sdk.GetConfiguration()
    if not config:
        raise NotInInternalEnvironmentError(
            "This function is only available inside Orthanc server. "
            "Use `get_internal_client()` inside an Orthanc Python script; outside it, create an `Orthanc()`."
        )
    port = json.loads(config).get("HttpPort", 8042)
    client = Orthanc(url=f"http://localhost:{port}")
    client.headers["Authorization"] = orthanc_sdk.GenerateRestApiAuthorizationToken()
    return client
