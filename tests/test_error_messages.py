"""Errors a person can act on: what to check, against real servers."""

from __future__ import annotations

import pytest

from orthanc_client import NotFoundError, Orthanc, UnauthorizedError
from orthanc_client.testing import OrthancServer

MISSING_ID = "-".join(["0" * 8] * 5)


def test_a_refused_login_names_where_credentials_come_from(orthanc_server: OrthancServer) -> None:
    with Orthanc(orthanc_server.url, "orthanc", "not-the-password") as client:
        with pytest.raises(UnauthorizedError) as refused:
            client.get_system()
    message = str(refused.value)
    assert "ORTHANC_USERNAME and ORTHANC_PASSWORD" in message and "--username" in message
    assert "not-the-password" not in message


def test_a_missing_resource_names_its_level_and_id(orthanc_server: OrthancServer) -> None:
    with Orthanc(orthanc_server.url, *orthanc_server.auth) as client:
        with pytest.raises(NotFoundError) as missing:
            client.get_series_id(MISSING_ID)
        assert f"No series with the ID {MISSING_ID}" in str(missing.value)
        with pytest.raises(NotFoundError) as missing:
            client.get_instances_id_tags(MISSING_ID)
        assert f"No instance with the ID {MISSING_ID}" in str(missing.value)
