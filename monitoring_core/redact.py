"""URLs as logs may show them: secrets that URLs carry (user:password, a token in the path or
the query, as webhook receivers use) are left out."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """``https://user:pw@hooks.example/T0/B0/secret?token=x`` -> ``https://hooks.example/...``:
    scheme, host and port only; ``/...`` marks a path or query that was dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    hidden = "/..." if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{netloc}{hidden}"


class _RetryUrls(logging.Filter):
    """urllib3's "Retrying ... : /path?query" warning names the request's path and query,
    which may hold a token (a URL's path, a query parameter): keep the warning, not them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and "Retrying" in str(record.msg):
            record.args = (*record.args[:-1], "/...")
        return True


_RETRY_FILTER = _RetryUrls()


def redact_urllib3_retries() -> None:
    """Install the filter on urllib3's connection pool logger (once; idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if _RETRY_FILTER not in logger.filters:
        logger.addFilter(_RETRY_FILTER)
