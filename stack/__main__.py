"""`python -m stack up|down|status`: the whole suite on one machine, natively, on loopback."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stack.compose import compose_test
from stack.processes import Component, StackError, Supervisor
from stack.servers import all_servers, by_module, infrastructure, mariadb, services
from stack.servers.shared import TEST_PACKAGES, Stack, ensure_debian_packages
from stack.settings import REPO, StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument(
        "command", choices=["up", "down", "status", "env", "test-tools", "compose-test"]
    )
    parser.add_argument(
        "--infra-only",
        action="store_true",
        help="with up: only Kafka, MariaDB, Prometheus and the exporters, not the four services",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="with compose-test: the .env to run with (default: generated passwords)",
    )
    args, pytest_args = parser.parse_known_args(argv)
    if pytest_args and args.command != "compose-test":
        parser.error(f"unrecognized arguments: {' '.join(pytest_args)}")
    settings = StackSettings()
    stack = Stack(settings)
    supervisor = Supervisor(settings.run, settings.logs, settings.ready_timeout_seconds)
    components = all_servers(stack)
    try:
        if args.command == "up":
            started = time.monotonic()
            ensure_debian_packages()
            for component in infrastructure(stack):
                start(supervisor, component)
            # The migration step, before any service starts on the schema.
            applied = mariadb.migrate(stack)
            print(f"{'migrations':15} ... {', '.join(applied) or 'schema is current'}")
            for component in [] if args.infra_only else services.components(stack):
                start(supervisor, component)
            stack.write_env_file()
            elapsed = time.monotonic() - started
            print(f"stack is up in {elapsed:.1f}s; state and logs in {settings.home}")
            print_addresses(stack, with_services=not args.infra_only)
        elif args.command == "down":
            for component in [*services.leftover_workers(stack), *reversed(components)]:
                print(f"{component.name:15} {supervisor.stop(component)}", flush=True)
        elif args.command == "compose-test":
            return compose_test(settings, args.env_file, pytest_args)
        elif args.command == "test-tools":
            ensure_debian_packages(TEST_PACKAGES)
        elif args.command == "env":
            stack.write_env_file()
            print(settings.env_file)
        else:
            print_status(stack, supervisor)
    except StackError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def start(supervisor: Supervisor, component: Component) -> None:
    print(f"{component.name:15} ...", end=" ", flush=True)
    print(supervisor.start(component), flush=True)


def print_status(stack: Stack, supervisor: Supervisor) -> None:
    """Each server under the module that defines it: its ports, whether it runs, its log."""
    for module, servers in by_module(stack).items():
        print(f"stack/servers/{module}.py")
        for component in servers:
            pid = supervisor.pid(component)
            state = f"running (pid {pid})" if pid else "stopped"
            ports = ",".join(str(p) for p in component.ports) or "-"
            log = shown(supervisor.log_file(component))
            print(f"  {component.name:15} {ports:12} {state:20} {log}")


def shown(path: Path) -> str:
    """A path under the repository relative to it (as the README writes them), else whole."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def print_addresses(stack: Stack, with_services: bool) -> None:
    env = stack.client_env()
    rows = [
        ("Prometheus", env["PROMETHEUS_URL"]),
        ("Kafka", env["KAFKA_BOOTSTRAP_SERVERS"]),
        ("MariaDB", f"{env['MYSQL_HOST']}:{env['MYSQL_PORT']}/{env['MYSQL_DATABASE']}"),
    ]
    if with_services:
        rows += [
            ("ETL pipeline API", env["ETL_URL"]),
            ("Data retrieval API", env["RETRIEVAL_URL"]),
            ("SLA manager API", env["SLA_URL"]),
            ("Data storage health", f"{env['STORAGE_URL']}/health"),
        ]
    for name, address in rows:
        print(f"  {name:20} {address}")
    print(f"  client settings: {stack.settings.env_file}")
    credentials = stack.settings.home / "credentials.env"
    print(f"  API tokens:      ADMIN_TOKEN and READ_TOKEN in {credentials} (mode 600)")


if __name__ == "__main__":
    sys.exit(main())
