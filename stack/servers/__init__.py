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


def infrastructure(stack: Stack) -> list[Component]:
    """What the services need, in start order: Prometheus scrapes the exporters."""
    settings = stack.settings
    return [
        kafka.component(settings),
        mariadb.component(stack),
        exporters.demo_exporter(settings),
        exporters.node_exporter(settings),
        prometheus.component(settings),
    ]


def all_servers(stack: Stack) -> list[Component]:
    """Every server, in start order (stop them in reverse)."""
    return infrastructure(stack) + services.components(stack)
