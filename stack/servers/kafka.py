"""Kafka: Apache Kafka's own broker jars, resolved by Maven from Maven Central, run on the
machine's Java 17 in KRaft mode (one node, broker and controller)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from stack.processes import Component, StackError, port_open
from stack.servers.shared import run_step
from stack.settings import REPO, StackSettings

MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"


def libs(settings: StackSettings) -> Path:
    """The broker's jars, kept in the download cache between stacks."""
    return settings.cache / f"kafka-{settings.kafka_version}" / "libs"


def install(settings: StackSettings) -> Path:
    """Resolve the broker's jars unless they are cached; return their folder."""
    kafka_libs = libs(settings)
    if (kafka_libs / f"kafka_2.13-{settings.kafka_version}.jar").exists():
        return kafka_libs
    print(f"resolving Apache Kafka {settings.kafka_version} jars with Maven", flush=True)
    run_step(
        "maven: resolve Kafka jars",
        [
            "mvn", "-q", "-B",
            "-f", str(REPO / "stack" / "kafka" / "pom.xml"),
            f"-Dkafka.version={settings.kafka_version}",
            f"-Dmaven.repo.local={settings.cache / 'm2'}",
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={kafka_libs}",
        ],
    )  # fmt: skip
    return kafka_libs


def java(settings: StackSettings, main: str, *args: str) -> list[str]:
    return [
        "java",
        "-Xms256m",
        "-Xmx768m",
        f"-Dlog4j.configuration=file:{REPO / 'stack' / 'kafka' / 'log4j.properties'}",
        "-cp",
        f"{libs(settings)}/*",
        main,
        *args,
    ]


def prepare(settings: StackSettings) -> None:
    if not shutil.which("java"):
        raise StackError("kafka: java not found; install Java 17 (openjdk-17-jre-headless)")
    if not shutil.which("mvn"):
        raise StackError("kafka: mvn not found; install Maven to resolve the Kafka jars")
    install(settings)
    data = settings.home / "kafka" / "data"
    data.mkdir(parents=True, exist_ok=True)
    properties = settings.home / "kafka" / "server.properties"
    properties.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{settings.kafka_controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{settings.kafka_port},"
                f"CONTROLLER://127.0.0.1:{settings.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{settings.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=6",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.retention.hours=48",
            ]
        )
        + "\n"
    )
    if not (data / "meta.properties").exists():
        cluster_id = uuid.uuid4().hex[:22]
        format_storage = ["format", "-t", cluster_id, "-c", str(properties)]
        run_step(
            "kafka: format storage", java(settings, "kafka.tools.StorageTool", *format_storage)
        )


def ready(settings: StackSettings) -> bool:
    if not port_open(settings.kafka_port):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{settings.kafka_port}"})
    metadata = admin.list_topics(timeout=2)
    return bool(metadata.brokers)


def component(settings: StackSettings) -> Component:
    return Component(
        name="kafka",
        ports=[settings.kafka_port, settings.kafka_controller_port],
        port_setting="STACK_KAFKA_PORT / STACK_KAFKA_CONTROLLER_PORT",
        prepare=lambda: prepare(settings),
        command=lambda: java(
            settings, "kafka.Kafka", str(settings.home / "kafka" / "server.properties")
        ),
        ready=lambda: ready(settings),
    )
