# The one image of the services stack (docker-compose.yml): Airflow 3 + this project + a JVM.
#
# Airflow's services run it with the image's own entrypoint; the Spark master and worker run the
# same image with `spark-class` (shipped by the pinned pyspark wheel). Sharing one image keeps the
# Spark cluster, the PySpark driver inside Airflow tasks and the Python on the executors at the
# same versions (pyspark and Python 3.11), which Spark requires.
#
# Build context is the repository root: docker compose build (or
#   docker build -f docker/airflow.Dockerfile -t complaint-analytics:local .)
FROM apache/airflow:3.3.2-python3.11

USER root
# Java for Spark (the driver in Airflow tasks, and the master/worker), a JDK so the first session
# compiles jobs/jvm/ (the local file system without chmod processes, the classification and
# sentiment UDFs: a JRE alone runs the slower equivalents); procps for Spark's scripts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends default-jdk-headless procps \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/lake /opt/airflow/auth /opt/complaints \
    && chown -R airflow:0 /opt/lake /opt/airflow/auth /opt/complaints
ENV JAVA_HOME=/usr/lib/jvm/default-java

USER airflow
# Dependencies first (their layer is reused until requirements.lock changes). The lock pins
# apache-airflow to the same version as the base image, so pip keeps Airflow as it is.
COPY --chown=airflow:0 requirements.lock /opt/complaints/requirements.lock
RUN pip install --no-cache-dir -r /opt/complaints/requirements.lock

# Then the project, installed editable so a bind mount of the source over /opt/complaints
# (docker-compose.yml does this) is picked up without rebuilding.
COPY --chown=airflow:0 pyproject.toml README.md /opt/complaints/
COPY --chown=airflow:0 common /opt/complaints/common
COPY --chown=airflow:0 complaints /opt/complaints/complaints
COPY --chown=airflow:0 dags /opt/complaints/dags
COPY --chown=airflow:0 jobs /opt/complaints/jobs
COPY --chown=airflow:0 samples /opt/complaints/samples
COPY --chown=airflow:0 streaming /opt/complaints/streaming
COPY --chown=airflow:0 schemas /opt/complaints/schemas
COPY --chown=airflow:0 quality /opt/complaints/quality
COPY --chown=airflow:0 warehouse /opt/complaints/warehouse
COPY --chown=airflow:0 rules /opt/complaints/rules
# The DAG files import their shared modules as `dags.*` (the package installed above).
COPY --chown=airflow:0 dags /opt/airflow/dags
RUN pip install --no-cache-dir --no-deps -e /opt/complaints \
    && python -c "import psycopg2, pyspark, common.settings, complaints.cli, dags.failure_alerts" \
    && java -version

ENV COMPLAINTS_LAKE=/opt/lake
