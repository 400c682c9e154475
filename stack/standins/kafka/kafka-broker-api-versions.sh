#!/bin/bash
# As upstream's bin/kafka-broker-api-versions.sh: the compose healthcheck calls it.
exec java -Xmx128m -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
  -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
