# One image for the four services, the migration step and the demo exporter;
# docker-compose.services.yml picks the command. The base is a build argument so that it can
# come from a mirror (`python -m stack compose-test` uses a local stand-in).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
WORKDIR /app
# One BLAS thread per process: the analytics' matrices are small (see stack/servers/services.py).
ENV OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir -p monitoring_core && touch monitoring_core/__init__.py \
    && pip install --no-cache-dir . && pip uninstall -y -q prometheus-sla-suite \
    && rm -rf monitoring_core build *.egg-info
COPY monitoring_core ./monitoring_core
COPY etl_pipeline ./etl_pipeline
COPY data_storage ./data_storage
COPY data_retrieval ./data_retrieval
COPY sla_manager ./sla_manager
COPY demo_exporter ./demo_exporter
COPY stack ./stack
COPY sql ./sql
# /backfill and /var/lib/sla-rules belong to the app user, so that a new named volume
# mounted there (the demo history, the SLA manager's Prometheus rules) starts writable by it.
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --system --uid 10001 app \
    && mkdir /backfill /var/lib/sla-rules && chown app /backfill /var/lib/sla-rules
USER app
