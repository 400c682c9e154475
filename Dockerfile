# One image for the four services, the migration step and the demo exporter;
# docker-compose.services.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
# One BLAS thread per process: the analytics' matrices are small (see stack/components.py).
ENV OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
COPY pyproject.toml ./
COPY monitoring_core ./monitoring_core
COPY etl_pipeline ./etl_pipeline
COPY data_storage ./data_storage
COPY data_retrieval ./data_retrieval
COPY sla_manager ./sla_manager
COPY demo_exporter ./demo_exporter
COPY stack ./stack
COPY sql ./sql
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 app
USER app
