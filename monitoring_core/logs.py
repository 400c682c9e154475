"""The one logging setup of every service process (the workers and `python -m` entry points)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr in one format; a no-op when the host (gunicorn, pytest) already did."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)
