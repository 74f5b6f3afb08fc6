"""``AsyncOrthanc``: pyorthanc's asynchronous client, backed by the native ``orthanc_client.AsyncOrthanc``.

An ``httpx.AsyncClient`` with one ``async`` method per Orthanc route, called with pyorthanc's argument order
and delegating to the native async client (typed errors, identity encoding for binaries, retries).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..._client._async.client import AsyncOrthanc as _NativeAsync
from ..._core.operation import Operation
from ..._core.paths import checked_route
from ..._core.prepare import PreparedRequest
from ._native import PYORTHANC_API_VERSION, RAW, checked, install_route_methods, raw_request


class NativeAsyncOrthanc(_NativeAsync):
    """The native async client, plus pyorthanc's raw-response mode, without the server-version gate."""

    async def _check_supported(self, prepared: PreparedRequest) -> None:
        return None

    async def _request(self, operation: Operation, path_args: tuple[object, ...], **kwargs: Any) -> Any:
        if not RAW.get():
            return await super()._request(operation, path_args, **kwargs)
        return await self._http.send(raw_request(self._http, operation, path_args, kwargs, is_async=True))


__all__ = ["AsyncOrthanc"]


class AsyncOrthanc(httpx.AsyncClient):
    """Asynchronous Orthanc REST API client with pyorthanc's interface.

    Args:
        url: the server's URL. username, password: HTTP basic credentials (both needed).
        return_raw_response: route methods return the ``httpx.Response`` instead of the decoded answer.
        *args, **kwargs: passed to ``httpx.AsyncClient``; without ``timeout`` the native defaults apply.
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
        self._native = NativeAsyncOrthanc(url, http_client=self, **native_options)
        self.auth = kwargs.get("auth")  # type: ignore[assignment]
        if username and password:
            self.setup_credentials(username, password)

    @property
    def native(self) -> NativeAsyncOrthanc:
        """The native ``orthanc_client.AsyncOrthanc`` sharing this client's connections."""
        return self._native

    def setup_credentials(self, username: str, password: str) -> None:
        """Set the HTTP basic credentials used by every request."""
        self.auth = httpx.BasicAuth(username, password)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"


    async def _get(self, route: str, params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, await self.get(checked_route(route), params=params, headers=headers, cookies=cookies))

    async def _delete(self, route: str, params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, await self.delete(checked_route(route), params=params, headers=headers, cookies=cookies))

    async def _post(self, route: str, content: Any = None, data: Any = None, files: Any = None, json: Any = None,
                    params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, await self.post(checked_route(route), content=content, data=data, files=files, json=json,
                                             params=params, headers=headers, cookies=cookies))

    async def _put(self, route: str, content: Any = None, data: Any = None, files: Any = None, json: Any = None,
                   params: Any = None, headers: Any = None, cookies: Any = None) -> Any:
        return checked(self, await self.put(checked_route(route), content=content, data=data, files=files, json=json,
                                            params=params, headers=headers, cookies=cookies))


install_route_methods(AsyncOrthanc, NativeAsyncOrthanc, is_async=True)
