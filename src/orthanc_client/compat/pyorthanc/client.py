"""``Orthanc``: pyorthanc's synchronous client, backed by the native ``orthanc_client.Orthanc``.

Like pyorthanc's, it *is* an ``httpx.Client`` (context manager, ``client.get(url)`` gives an ``httpx.Response``)
with one method per Orthanc route, called with pyorthanc's argument order. Each route method delegates to
the native client, so answers are decoded the native way, binaries come with identity encoding, safe calls
are retried, and errors are typed (``orthanc_client.NotFoundError`` ... which are also ``httpx.HTTPError``).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..._client._sync.client import Orthanc as _NativeSync
from ..._core.operation import Operation
from ..._core.paths import checked_route
from ..._core.prepare import PreparedRequest
from ._native import PYORTHANC_API_VERSION, RAW, checked, install_route_methods, raw_request


class NativeOrthanc(_NativeSync):
    """The native sync client, plus pyorthanc's raw-response mode, without the server-version gate.

    pyorthanc sends every call and lets Orthanc answer (a 404 for a route it lacks); the facade does the same,
    so routes the native spec dates too late (e.g. ``/instances/{id}/content/{path}``) still work on 1.10.
    """

    def _check_supported(self, prepared: PreparedRequest) -> None:
        return None

    def _request(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> Any:
        if not RAW.get():
            return super()._request(operation, path_args, **kwargs)
        # pyorthanc's raw mode: no status check, no retry.
        return self._http.send(raw_request(self._http, operation, path_args, kwargs, is_async=False))


__all__ = ["Orthanc"]


class Orthanc(httpx.Client):
    """Orthanc REST API client with pyorthanc's interface.

    Args:
        url: the server's URL, e.g. ``http://localhost:8042``.
        username, password: HTTP basic credentials (both needed, as in pyorthanc).
        return_raw_response: route methods return the ``httpx.Response`` instead of the decoded answer.
        *args, **kwargs: passed to ``httpx.Client`` (``headers``, ``timeout``, ``verify``...). Without a
            ``timeout`` the native defaults apply (10 s to connect, 10 min to answer), not httpx's 5 s.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        return_raw_response: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        timeout_given = "timeout" in kwargs
        super().__init__(*args, **kwargs)
        self.url = url
        self.version = PYORTHANC_API_VERSION
        self.return_raw_response = return_raw_response
        native_options: dict[str, Any] = {"timeout": kwargs["timeout"]} if timeout_given else {}
        self._native = NativeOrthanc(url, http_client=self, **native_options)
        # pyorthanc authenticates only when both are given; environment variables play no part.
        self.auth = kwargs.get("auth")  # type: ignore[assignment]
        if username and password:
            self.setup_credentials(username, password)

    @property
    def native(self) -> NativeOrthanc:
        """The native ``orthanc_client.Orthanc`` sharing this client's connections (for migrating code)."""
        return self._native

    def setup_credentials(self, username: str, password: str) -> None:
        """Set the HTTP basic credentials used by every request."""
        self.auth = httpx.BasicAuth(username, password)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    # pyorthanc's private helpers, used by scripts for routes the generated methods miss.
    def _get(self, route: str, params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, self.get(checked_route(route), params=params, headers=headers, cookies=cookies))

    def _delete(self, route: str, params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, self.delete(checked_route(route), params=params, headers=headers, cookies=cookies))

    def _post(self, route: str, content: Any = None, data: Any = None, files: Any = None, json: Any = None,
              params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, self.post(checked_route(route), content=content, data=data, files=files, json=json,
                                       params=params, headers=headers, cookies=cookies))

    def _put(self, route: str, content: Any = None, data: Any = None, files: Any = None, json: Any = None,
             params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, self.put(checked_route(route), content=content, data=data, files=files, json=json,
                                      params=params, headers=headers, cookies=cookies))


install_route_methods(Orthanc, NativeOrthanc, is_async=False)
