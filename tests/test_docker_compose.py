"""docker-compose.yml is coherent: parsed and cross-checked without Docker (never calls docker)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from common.settings import Settings
from schemas.streaming import STREAM_SOURCES

ROOT = Path(__file__).resolve().parents[1]

API, SCHEDULER, DAG_PROCESSOR, TRIGGERER, INIT = (
    "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    "airflow-init",
)
AIRFLOW = [API, SCHEDULER, DAG_PROCESSOR, TRIGGERER, INIT]
POSTGRES, SPARK_MASTER, SPARK_WORKER, AWS = "postgres", "spark-master", "spark-worker", "aws"
SEED = "aws-seed"
CONSUMERS = {f"consumer-{source}": source for source in STREAM_SOURCES}
# The container ports each service listens on (see the commands in docker-compose.yml).
LISTENS = {
    API: {8080}, POSTGRES: {5432}, SPARK_MASTER: {7077, 8080}, SPARK_WORKER: {8081}, AWS: {5000},
}

Service = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(parsed, dict) and isinstance(parsed.get("services"), dict)
    return parsed


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found: dict[str, Service] = compose["services"]
    return found


def env(service: Service) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def command(service: Service) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def depends_on(service: Service) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else dict(deps)


def pinned(package: str) -> str:
    lock = (ROOT / "requirements.lock").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", lock, re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def dockerfile(service: Service) -> Path:
    build = service["build"]
    build = {"context": build} if isinstance(build, str) else build
    return ROOT / str(build.get("context", ".")) / str(build.get("dockerfile", "Dockerfile"))


def shell_script(service: Service) -> str:
    """The script of a ``bash -c`` command, with compose's ``$$`` unescaped."""
    argv = command(service)
    assert argv[:2] == ["bash", "-c"], argv
    return argv[2].replace("$$", "$")


def test_expected_services_and_commands(services: dict[str, Service]) -> None:
    assert set(AIRFLOW + [POSTGRES, SPARK_MASTER, SPARK_WORKER, AWS, SEED, *CONSUMERS]) <= set(
        services)
    assert command(services[API])[0] == "api-server"
    assert command(services[SCHEDULER])[0] == "scheduler"
    assert command(services[DAG_PROCESSOR])[0] == "dag-processor"
    assert command(services[TRIGGERER])[0] == "triggerer"
    assert "airflow db migrate" in " ".join(command(services[INIT]))
    assert services[POSTGRES]["image"].startswith("postgres:16")
    assert services[AWS]["image"].startswith("motoserver/moto")


def test_airflow_init_creates_the_spark_pool(services: dict[str, Service]) -> None:
    script = shell_script(services[INIT])
    match = re.search(r'airflow pools set "\$\{(\w+)\}" "\$\{(\w+)\}"', script)
    assert match, script
    conf = env(services[INIT])
    assert conf[match[1]] == Settings().spark_pool
    assert re.fullmatch(r"\$\{COMPLAINTS_SPARK_POOL_SLOTS:-1\}", conf[match[2]]), conf[match[2]]
    # Every Airflow service parses the DAG files with the same pool name.
    for name in AIRFLOW:
        assert env(services[name])["COMPLAINTS_SPARK_POOL"] == conf[match[1]], name


def test_commands_of_the_project_image_bypass_airflows_entrypoint(
        services: dict[str, Service]) -> None:
    # apache/airflow's entrypoint runs `airflow <command>` unless the command is bash or python.
    for name, service in services.items():
        argv = command(service)
        if argv and argv[0] not in ("bash", "python") and service.get("build"):
            runs_airflow = argv[0] in ("api-server", "scheduler", "dag-processor", "triggerer")
            assert runs_airflow or service.get("entrypoint"), f"{name}: `airflow {argv[0]}`?"


def test_the_seed_fills_the_emulator_before_the_scheduler_and_consumers_start(
        services: dict[str, Service]) -> None:
    seed = services[SEED]
    assert seed.get("restart") == "no"
    assert depends_on(seed)[AWS]["condition"] == "service_healthy"
    script = shell_script(seed)
    assert "set -euo pipefail" in script
    assert re.search(r"^complaints generate --days ", script, re.M), script
    # Producing creates each stream the consumers read.
    for source in STREAM_SOURCES:
        assert re.search(rf"^complaints produce --source {source} --count \d+", script, re.M)
    for name in (SCHEDULER, *CONSUMERS):
        assert depends_on(services[name])[SEED]["condition"] == "service_completed_successfully"


def test_stream_consumers_are_long_running_services(services: dict[str, Service]) -> None:
    for name, source in CONSUMERS.items():
        consumer = services[name]
        argv = command(consumer)
        assert argv[:4] == ["complaints", "consume", "--source", source], argv
        assert "--max-seconds" not in argv and "--idle-exit-seconds" not in argv
        assert consumer.get("restart") in ("unless-stopped", "always"), name
        assert consumer.get("entrypoint"), name
        assert "ports" not in consumer, f"{name} serves nothing"


def test_services_running_pipeline_code_share_its_settings(services: dict[str, Service]) -> None:
    pipeline = [name for name, s in services.items()
                if "COMPLAINTS_LAKE" in env(s)]
    assert set(AIRFLOW + [SEED, *CONSUMERS]) <= set(pipeline)
    for key in ("COMPLAINTS_LAKE", "COMPLAINTS_AWS_ENDPOINT_URL", "COMPLAINTS_AWS_REGION"):
        assert len({env(services[name])[key] for name in pipeline}) == 1, key


def test_dockerfile_installs_every_package_of_the_project(services: dict[str, Service]) -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]
    text = dockerfile(services[API]).read_text()
    copied = set(re.findall(r"^COPY\s+(?:--chown=\S+\s+)?(\S+)\s+/opt/complaints/\1$", text,
                            re.M))
    assert set(packages) <= copied, f"not copied before `pip install -e`: {set(packages) - copied}"
    # The build's self-check imports modules that exist (a renamed module fails the build).
    imports = re.search(r'python -c "import ([^"]+)"', text)
    assert imports, "the image build imports nothing to check itself"
    for module in (m.strip() for m in imports[1].split(",")):
        if module.split(".")[0] in ("psycopg2", "pyspark"):
            continue
        path = ROOT.joinpath(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), module


def test_images_and_dockerfiles(services: dict[str, Service]) -> None:
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            path = dockerfile(service)
            assert path.is_file(), f"{name}: {path} is missing"
            copies = re.findall(r"^COPY\s+(?:--chown=\S+\s+)?(.+)\s+\S+$", path.read_text(), re.M)
            for sources in copies:
                for source in sources.split():
                    assert (ROOT / source).exists(), f"{path.name} copies missing {source}"


def test_dependencies(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for target in depends_on(service):
            assert target in services, f"{name} depends on unknown {target}"
    assert "healthcheck" in services[POSTGRES]
    assert depends_on(services[INIT])[POSTGRES]["condition"] == "service_healthy"
    for name in (API, SCHEDULER, DAG_PROCESSOR, TRIGGERER):
        assert depends_on(services[name])[INIT]["condition"] == "service_completed_successfully"


def test_ports(services: dict[str, Service]) -> None:
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


def test_volumes(compose: dict[str, Any], services: dict[str, Service]) -> None:
    declared = set(compose.get("volumes") or {})
    lake_mounts: dict[str, str] = {}
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
    assert set(AIRFLOW + [SPARK_WORKER, SEED, *CONSUMERS]) <= set(lake_mounts)
    assert len(set(lake_mounts.values())) == 1, lake_mounts
    for name in AIRFLOW + [SEED, *CONSUMERS]:
        assert env(services[name])["COMPLAINTS_LAKE"] == lake_mounts[name]


def test_airflow_settings_are_shared_and_point_at_services(services: dict[str, Service]) -> None:
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


def test_spark_and_aws_urls(services: dict[str, Service]) -> None:
    master_urls = [arg for arg in command(services[SPARK_WORKER]) if arg.startswith("spark://")]
    master_urls.append(env(services[SCHEDULER])["COMPLAINTS_SPARK_MASTER"])
    for url in master_urls:
        parsed = urlsplit(url)
        assert (parsed.hostname, parsed.port) == (SPARK_MASTER, 7077), url
    aws = urlsplit(env(services[SCHEDULER])["COMPLAINTS_AWS_ENDPOINT_URL"])
    assert aws.hostname is not None and aws.hostname in services, aws.hostname
    assert services[aws.hostname]["image"].startswith("motoserver/moto")
    assert aws.port in LISTENS[aws.hostname]


def test_versions_match_requirements_lock(services: dict[str, Service]) -> None:
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
