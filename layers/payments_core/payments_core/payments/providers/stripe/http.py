"""The Stripe SDK's HTTP layer on urllib3, the HTTP library botocore already loads in every function.

The SDK's own ``RequestsClient`` costs a cold start ``requests`` (about 20 ms of imports, nothing else
of ours uses it). This client does what it did for us, for ``stripe.StripeClient(http_client=...)``:

- one connection pool per process, kept alive between calls (a warm container reuses its connection);
- a timeout per try, ``(connect, read)`` seconds;
- retries stay the SDK's (``HTTPClient.request_with_retries``: ``max_network_retries`` with its
  backoff): urllib3 retries nothing itself and follows no redirect. Which failures the SDK may retry
  is said here as ``RequestsClient`` says it: a timeout or a connection error yes, a certificate that
  does not verify or anything else no; the answer's own ``Stripe-Should-Retry``, 409 and 5xx rules are
  the SDK's;
- certificates verified against the SDK's CA bundle (``stripe.ca_bundle_path``);
- a proxy: the one given, else the environment's (``HTTPS_PROXY``, ``NO_PROXY``...) as ``requests``
  honoured it.
"""

from __future__ import annotations

import textwrap
import threading
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ProxyError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from payments_core.payments.providers.stripe.sdk import stripe_sdk

if TYPE_CHECKING:
    import stripe
else:
    stripe = stripe_sdk()


class Urllib3Client(stripe.HTTPClient):
    name = "urllib3"

    def __init__(
        self,
        timeout: float | tuple[float, float] = 80,
        verify_ssl_certs: bool = True,
        proxy: str | None = None,
    ) -> None:
        super().__init__(verify_ssl_certs=verify_ssl_certs, proxy=proxy)
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._timeout = urllib3.Timeout(connect=connect, read=read)
        self._pools: dict[str | None, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _proxy_for(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme
        if self._proxy:
            return self._proxy["https"] if scheme == "https" else self._proxy["http"]
        if proxy_bypass(urlsplit(url).netloc):
            return None
        return getproxies().get(scheme)

    def _pool(self, url: str) -> urllib3.PoolManager:
        proxy = self._proxy_for(url)
        with self._lock:
            pool = self._pools.get(proxy)
            if pool is None:
                tls: dict[str, Any] = (
                    {"cert_reqs": "CERT_REQUIRED", "ca_certs": stripe.ca_bundle_path}
                    if self._verify_ssl_certs
                    else {"cert_reqs": "CERT_NONE"}
                )
                pool = urllib3.ProxyManager(proxy, **tls) if proxy else urllib3.PoolManager(**tls)
                self._pools[proxy] = pool
            return pool

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any) -> tuple[Any, int, Any]:
        response = self._send(method, url, headers, post_data, stream=False)
        return response.data, response.status, response.headers

    def request_stream(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> tuple[Any, int, Any]:
        response = self._send(method, url, headers, post_data, stream=True)
        return response, response.status, response.headers

    def _send(self, method: str, url: str, headers: Any, post_data: Any, *, stream: bool) -> Any:
        try:
            return self._pool(url).request(
                method.upper(),
                url,
                body=post_data,
                headers=dict(headers or {}),
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=not stream,
            )
        except Exception as error:  # every failure becomes the SDK's APIConnectionError
            self._handle_request_error(error)

    def _handle_request_error(self, error: Exception) -> NoReturn:
        if isinstance(error, SSLError):
            message = (
                "Could not verify Stripe's SSL certificate.  Please make sure that your network is not "
                "intercepting certificates.  If this problem persists, let us know at support@stripe.com."
            )
            should_retry = False
        elif isinstance(error, Urllib3TimeoutError | NewConnectionError | ProtocolError | ProxyError):
            message = (
                "Unexpected error communicating with Stripe.  If this problem persists, let us know at "
                "support@stripe.com."
            )
            should_retry = True
        elif isinstance(error, HTTPError):
            message = (
                "Unexpected error communicating with Stripe.  If this problem persists, let us know at "
                "support@stripe.com."
            )
            should_retry = False
        else:
            message = (
                "Unexpected error communicating with Stripe. It looks like there's probably a configuration "
                "issue locally.  If this problem persists, let us know at support@stripe.com."
            )
            should_retry = False
        detail = f"{type(error).__name__}: {error}"
        raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
            textwrap.fill(message) + f"\n\n(Network error: {detail})", should_retry=should_retry
        ) from error

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()
