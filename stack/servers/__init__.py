"""The servers of the local stack, one module each, in the order `python -m stack up` starts them.

Kafka runs from Apache Kafka's own jars (resolved by Maven from Maven Central) on the
machine's Java 17 in KRaft mode; MariaDB, Prometheus and the node exporter come from
Debian's packages; the demo exporter and the four services run from this repository.
What they share (the stack's credentials, the addresses clients read, the install steps)
is in `shared.py`.
"""

from __future__ import annotations

from stack.processes import Component
from stack.servers import exporters, kafka, mariadb, prometheus, services
from stack.servers.shared import Stack


def by_module(stack: Stack) -> dict[str, list[Component]]:
    """Every server under the module that defines it, in start order (stop them in reverse).

    Prometheus starts after the exporters it scrapes; the services start after the migration
    step, so `python -m stack up` starts them apart (see `infrastructure`)."""
    settings = stack.settings
    return {
        "kafka": [kafka.component(settings)],
        "mariadb": [mariadb.component(stack)],
        "exporters": [exporters.demo_exporter(settings), exporters.node_exporter(settings)],
        "prometheus": [prometheus.component(settings)],
        "services": services.components(stack),
    }


def infrastructure(stack: Stack) -> list[Component]:
    """What the services need: every server but the four services, in start order."""
    modules = by_module(stack)
    del modules["services"]
    return [component for components in modules.values() for component in components]


def all_servers(stack: Stack) -> list[Component]:
    """Every server, in start order."""
    return [component for components in by_module(stack).values() for component in components]
