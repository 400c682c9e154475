"""`python -m data_storage`: consume the results topic into MySQL until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys

from data_storage.service import StorageService


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    service = StorageService()
    # SIGTERM: finish the batch in hand, commit it, and leave.
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    service.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
