"""``python -m demo_exporter --host 127.0.0.1 --port 19101``"""

from __future__ import annotations

import argparse
import logging

from demo_exporter.exporter import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_exporter", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19101, help="0 picks a free port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
