"""The local stack: Kafka, MariaDB, Prometheus, the exporters and the services, natively."""
