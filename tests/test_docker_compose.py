"""docker-compose.yml is coherent: parsed and cross-checked without Docker (never calls docker)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

API, SCHEDULER, DAG_PROCESSOR, INIT = (
    "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-init",
)
AIRFLOW = [API, SCHEDULER, DAG_PROCESSOR, INIT]
POSTGRES, SPARK_MASTER, SPARK_WORKER, AWS = "postgres", "spark-master", "spark-worker", "aws"
# The container ports each service listens on (see the commands in docker-compose.yml).
LISTENS = {
    API: {8080}, POSTGRES: {5432}, SPARK_MASTER: {7077, 8080}, SPARK_WORKER: {8081}, AWS: {5000},
}


@pytest.fixture(scope="module")
def compose() -> dict:
    parsed = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(parsed, dict) and isinstance(parsed.get("services"), dict)
    return parsed


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else deps


def pinned(package: str) -> str:
    lock = (ROOT / "requirements.lock").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", lock, re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def dockerfile(service: dict) -> Path:
    build = service["build"]
    build = {"context": build} if isinstance(build, str) else build
    return ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def test_expected_services_and_commands(services):
    assert set(AIRFLOW + [POSTGRES, SPARK_MASTER, SPARK_WORKER, AWS]) <= set(services)
    assert command(services[API])[0] == "api-server"
    assert command(services[SCHEDULER])[0] == "scheduler"
    assert command(services[DAG_PROCESSOR])[0] == "dag-processor"
    assert "airflow db migrate" in " ".join(command(services[INIT]))
    assert services[POSTGRES]["image"].startswith("postgres:16")
    assert services[AWS]["image"].startswith("motoserver/moto")


def test_images_and_dockerfiles(services):
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            path = dockerfile(service)
            assert path.is_file(), f"{name}: {path} is missing"
            copies = re.findall(r"^COPY\s+(?:--chown=\S+\s+)?(.+)\s+\S+$", path.read_text(), re.M)
            for sources in copies:
                for source in sources.split():
                    assert (ROOT / source).exists(), f"{path.name} copies missing {source}"


def test_dependencies(services):
    for name, service in services.items():
        for target in depends_on(service):
            assert target in services, f"{name} depends on unknown {target}"
    assert "healthcheck" in services[POSTGRES]
    assert depends_on(services[INIT])[POSTGRES]["condition"] == "service_healthy"
    for name in (API, SCHEDULER, DAG_PROCESSOR):
        assert depends_on(services[name])[INIT]["condition"] == "service_completed_successfully"


def test_ports(services):
    host_ports: list[str] = []
    for name, service in services.items():
        for mapping in service.get("ports") or []:
            *host, container = str(mapping).split("/")[0].split(":")
            assert host, f"{name}: publish {mapping} with an explicit host port"
            host_ports.append(host[-1])
            assert int(container) in LISTENS.get(name, set()), f"{name}: no {container}"
    assert len(host_ports) == len(set(host_ports)), f"host ports clash: {sorted(host_ports)}"
    master = command(services[SPARK_MASTER])
    assert master[master.index("--port") + 1] == "7077"
    assert master[master.index("--webui-port") + 1] == "8080"
    worker = command(services[SPARK_WORKER])
    assert worker[worker.index("--webui-port") + 1] == "8081"


def test_volumes(compose, services):
    declared = set(compose.get("volumes") or {})
    lake_mounts = {}
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source, target = str(volume).split(":")[:2]
            if source.startswith((".", "/")):
                assert source.startswith("."), f"{name}: bind-mount {source} outside the repo"
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
            if source == "lake":
                lake_mounts[name] = target
    assert set(AIRFLOW + [SPARK_WORKER]) <= set(lake_mounts)
    assert len(set(lake_mounts.values())) == 1, lake_mounts
    for name in AIRFLOW:
        assert env(services[name])["COMPLAINTS_LAKE"] == lake_mounts[name]


def test_airflow_settings_are_shared_and_point_at_services(services):
    pg = env(services[POSTGRES])
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET",
                "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"):
        assert len({env(services[name]).get(key) for name in AIRFLOW}) == 1, key
    conf = env(services[API])
    db = urlsplit(conf["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert db.scheme == "postgresql+psycopg2"
    assert (db.hostname, db.port or 5432) == (POSTGRES, 5432)
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    assert conf["AIRFLOW__CORE__EXECUTOR"] in ("LocalExecutor", "CeleryExecutor")
    assert conf["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    execution = urlsplit(conf["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == (API, 8080, "/execution/")
    assert env(services[SCHEDULER]).get("SPARK_LOCAL_HOSTNAME", SCHEDULER) == SCHEDULER


def test_spark_and_aws_urls(services):
    master_urls = [arg for arg in command(services[SPARK_WORKER]) if arg.startswith("spark://")]
    master_urls.append(env(services[SCHEDULER])["COMPLAINTS_SPARK_MASTER"])
    for url in master_urls:
        parsed = urlsplit(url)
        assert (parsed.hostname, parsed.port) == (SPARK_MASTER, 7077), url
    aws = urlsplit(env(services[SCHEDULER])["COMPLAINTS_AWS_ENDPOINT_URL"])
    assert aws.hostname in services, aws.hostname
    assert services[aws.hostname]["image"].startswith("motoserver/moto")
    assert aws.port in LISTENS[aws.hostname]


def test_versions_match_requirements_lock(services):
    airflow = services[API]
    if "build" in airflow:
        images = re.findall(r"^FROM\s+(\S+)", dockerfile(airflow).read_text(), re.M)
    else:
        images = [airflow["image"]]
    airflow_tags = [i.split(":", 1)[1] for i in images if i.startswith("apache/airflow:")]
    assert airflow_tags, f"no apache/airflow base image in {images}"
    version = pinned("apache-airflow")
    assert all(re.split(r"-(?=python)", t)[0] == version for t in airflow_tags), airflow_tags
    # The Spark cluster must run the pinned pyspark: either the project image (which installs it
    # from requirements.lock) or an apache/spark image of that exact version.
    for name in (SPARK_MASTER, SPARK_WORKER):
        spark = services[name]
        same_tag = airflow.get("image") is not None and spark.get("image") == airflow["image"]
        project_image = "build" in airflow and (spark.get("build") == airflow["build"] or same_tag)
        if not project_image:
            assert spark["image"].startswith(f"apache/spark:{pinned('pyspark')}"), name
