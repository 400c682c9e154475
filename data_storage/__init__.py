"""Data storage: the Kafka consumer that upserts every ETL result into MySQL."""
