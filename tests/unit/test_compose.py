"""docker-compose.yaml, Dockerfile and docker/postgres-init.sh describe one consistent stack.

Docker itself is not needed: the compose file is validated against the Compose Specification
schema and then read as data, so the checks are about what the services would actually get,
with the secrets a user's .env would hold (compose has no default for any of them).
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from mlops_lib.settings import Settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
POSTGRES_INIT = REPO / "docker" / "postgres-init.sh"
ENV_EXAMPLE = REPO / ".env.example"

AIRFLOW_INIT = "airflow-init"
AIRFLOW_DAEMONS = {
    "airflow-api-server": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = [AIRFLOW_INIT, *AIRFLOW_DAEMONS]

CT_ENV = [
    "CT_HOME",
    "CT_STORE_URL",
    "CT_S3_ENDPOINT_URL",
    "CT_ARTIFACT_BUCKET",
    "MLFLOW_TRACKING_URI",
    "CT_PIPELINES_DIR",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AIRFLOW_CONN_CT_S3",
]
MINIO_ENDPOINT = "http://minio:9000"
BUCKETS = ("ct-landing", "ct-artifacts")

# `$${X}` is the container's own variable, not one compose resolves.
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def example_secrets() -> dict[str, str]:
    """The variables .env.example asks for, each with a value as a user's .env would have."""
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M)
    return {name: f"s3cret{name.lower().replace('_', '')}" for name in names}


SECRETS = example_secrets()


def interpolate(value: object, env: dict[str, str] | None = None) -> str:
    """Resolve compose `${VAR}`, `${VAR:-default}` and `${VAR:?error}` as compose would with
    `env` (default: the secrets of .env.example, and no other variable set)."""
    env = SECRETS if env is None else env

    def resolve(m: re.Match[str]) -> str:
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"compose would refuse to start: {arg}")
        return arg or ""

    return _VAR.sub(resolve, str(value)).replace("$$", "$")


def env_of(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(value) for key, value in raw.items()}


def command_text(service: dict) -> str:
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if value is None:
            continue
        parts.extend(value if isinstance(value, list) else [value])
    return "\n".join(str(p) for p in parts)


def command_args(service: dict) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else [interpolate(c) for c in command]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    assert exe.exists(), f"check-jsonschema not installed next to {sys.executable}"
    proc = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, f"compose-spec validation failed:\n{proc.stdout}\n{proc.stderr}"


def test_airflow3_services_exist_and_share_one_image_built_from_the_repo_dockerfile(
    services: dict[str, dict],
) -> None:
    missing = [name for name in AIRFLOW_SERVICES if name not in services]
    assert not missing, f"missing Airflow services: {missing}"

    images = set()
    for name in AIRFLOW_SERVICES:
        service = services[name]
        build = service.get("build")
        assert isinstance(build, dict), f"{name} must build the project image"
        context = (REPO / build.get("context", ".")).resolve()
        assert context == REPO, f"{name} builds from {context}, not the repo root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        images.add((service.get("image"), json.dumps(build, sort_keys=True)))
    assert len(images) == 1, f"Airflow services use different images: {images}"
    assert DOCKERFILE.is_file()


def test_airflow_services_run_the_right_components_after_the_migration(
    services: dict[str, dict],
) -> None:
    init_args = command_args(services[AIRFLOW_INIT])
    assert init_args[-2:] == ["db", "migrate"], init_args
    for name, component in AIRFLOW_DAEMONS.items():
        service = services[name]
        args = command_args(service)
        assert args[-1:] == [component], f"{name} runs {args}, expected {component}"
        depends = service.get("depends_on") or {}
        assert depends.get(AIRFLOW_INIT, {}).get("condition") == (
            "service_completed_successfully"
        ), f"{name} must wait for {AIRFLOW_INIT} to finish"
    health = services["airflow-api-server"]["healthcheck"]["test"]
    assert any("/api/v2/monitor/health" in str(part) for part in health), health


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_every_airflow_service_gets_the_project_settings(
    services: dict[str, dict], compose: dict, name: str
) -> None:
    service = services[name]
    env = env_of(service)
    missing = [key for key in CT_ENV if not env.get(key)]
    assert not missing, f"{name} lacks {missing}"

    settings = Settings.from_env(env)
    assert settings.s3_endpoint_url == MINIO_ENDPOINT
    assert settings.artifact_bucket == "ct-artifacts"
    assert urlsplit(settings.mlflow_tracking_uri).netloc == "mlflow:5000"
    assert make_url(settings.store_url).get_backend_name() == "postgresql"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"

    conn = json.loads(env["AIRFLOW_CONN_CT_S3"])
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"] == MINIO_ENDPOINT
    assert conn["extra"]["region_name"] == "us-east-1"
    minio_env = env_of(services["minio"])
    assert (conn["login"], conn["password"]) == (
        minio_env["MINIO_ROOT_USER"],
        minio_env["MINIO_ROOT_PASSWORD"],
    ), "the ct_s3 connection must use MinIO's credentials"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        conn["login"],
        conn["password"],
    )

    # CT_HOME lives on one named volume that every Airflow service mounts.
    mounts = dict(str(v).split(":")[1::-1] for v in service.get("volumes", []))
    home_source = mounts.get(env["CT_HOME"])
    assert home_source in (compose.get("volumes") or {}), (
        f"{name}: CT_HOME {env['CT_HOME']} is not on a named volume (mounts: {mounts})"
    )
    # dags/, plugins/, pipelines/ are bind-mounted where Airflow and mlops_lib look for them.
    for folder, target in (
        ("dags", env["AIRFLOW__CORE__DAGS_FOLDER"]),
        ("plugins", env["AIRFLOW__CORE__PLUGINS_FOLDER"]),
        ("pipelines", env["CT_PIPELINES_DIR"]),
    ):
        source = mounts.get(target)
        assert source is not None and (REPO / source).resolve() == REPO / folder, (
            f"{name}: ./{folder} is not mounted at {target}"
        )


def test_all_airflow_services_see_the_same_ct_home_volume(services: dict[str, dict]) -> None:
    sources = set()
    for name in AIRFLOW_SERVICES:
        home = env_of(services[name])["CT_HOME"]
        for volume in services[name].get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if target == home:
                sources.add(source)
    assert len(sources) == 1, sources


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_runs_local_executor_on_postgres(services: dict[str, dict], name: str) -> None:
    env = env_of(services[name])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    db_url = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert db_url.get_backend_name() == "postgresql"
    assert db_url.host == "postgres"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "false"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-api-server"
    assert execution_api.port == 8080
    assert execution_api.path.rstrip("/") == "/execution"


def test_airflow_services_share_secrets(services: dict[str, dict]) -> None:
    keys = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
    values = {tuple(env_of(services[n]).get(k) for k in keys) for n in AIRFLOW_SERVICES}
    assert len(values) == 1, f"JWT/API secrets differ between Airflow services: {values}"


def test_databases_in_urls_are_created_by_the_postgres_init_script(
    services: dict[str, dict],
) -> None:
    script = POSTGRES_INIT.read_text()
    postgres_env = env_of(services["postgres"])
    mounts = [str(v) for v in services["postgres"].get("volumes", [])]
    assert any(
        m.startswith("./docker/postgres-init.sh:/docker-entrypoint-initdb.d/") for m in mounts
    ), mounts

    mlflow_args = command_args(services["mlflow"])
    urls = [
        env_of(services["airflow-scheduler"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        env_of(services["airflow-scheduler"])["CT_STORE_URL"],
        interpolate(mlflow_args[mlflow_args.index("--backend-store-uri") + 1]),
    ]
    for raw in urls:
        url = make_url(raw)
        assert url.host == "postgres" and url.port in (None, 5432), raw
        # CREATE USER <user> WITH PASSWORD :'<psql var>', the var set from the env var that
        # the postgres service gets, and whose value is the URL's password.
        create = re.search(
            rf"CREATE\s+USER\s+{url.username}\s+WITH\s+PASSWORD\s+:'(\w+)'", script, re.I)
        assert create, f"postgres-init.sh does not create user {url.username}"
        var = re.search(rf'-v\s+{create.group(1)}="\$(\w+)"', script)
        assert var and postgres_env.get(var.group(1)) == url.password, (
            f"user {url.username}: the init script's password is not the URL's")
        assert re.search(
            rf"CREATE\s+DATABASE\s+{url.database}\s+OWNER\s+{url.username}\b", script, re.I
        ), f"postgres-init.sh does not create database {url.database} for {url.username}"
    assert POSTGRES_INIT.stat().st_mode & 0o111, "the postgres image runs *.sh if executable"


def test_published_ports_bind_localhost_only(services: dict[str, dict]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                parts = interpolate(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else None
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond localhost"
    assert published, "no ports published at all"
    api_ports = [interpolate(p) for p in services["airflow-api-server"].get("ports", [])]
    assert "127.0.0.1:8080:8080" in api_ports, api_ports


def test_minio_init_creates_both_buckets(services: dict[str, dict]) -> None:
    init = services["minio-init"]
    assert (init.get("depends_on") or {}).get("minio", {}).get("condition") == "service_healthy"
    script = command_text(init)
    for bucket in BUCKETS:
        assert re.search(rf"\bmc\s+mb\b[^\n]*\s\w+/{bucket}\b", script), (
            f"minio-init does not create bucket {bucket}:\n{script}"
        )
    specs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "pipelines").glob("*.yaml"))]
    for spec in specs:
        assert spec["source"]["bucket"] in BUCKETS, spec["source"]["bucket"]


def test_mlflow_stores_artifacts_in_minio(services: dict[str, dict]) -> None:
    mlflow = services["mlflow"]
    args = command_args(mlflow)
    assert "server" in args

    destination = urlsplit(args[args.index("--artifacts-destination") + 1])
    ct_env = env_of(services["airflow-scheduler"])
    assert destination.scheme == "s3"
    assert destination.netloc == ct_env["CT_ARTIFACT_BUCKET"]
    backend = make_url(args[args.index("--backend-store-uri") + 1])
    assert backend.get_backend_name() == "postgresql"

    env = env_of(mlflow)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == MINIO_ENDPOINT
    assert env["AWS_ACCESS_KEY_ID"] == env_of(services["minio"])["MINIO_ROOT_USER"]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"].lower() == "false"

    # The Host header Airflow tasks send must pass MLflow's host check.
    allowed = args[args.index("--allowed-hosts") + 1].split(",")
    assert urlsplit(ct_env["MLFLOW_TRACKING_URI"]).netloc in allowed, allowed
    assert args[args.index("--port") + 1] == str(urlsplit(ct_env["MLFLOW_TRACKING_URI"]).port)

    # Same project image as Airflow (mlflow is installed there).
    assert mlflow.get("image") == services["airflow-scheduler"].get("image")



def test_the_project_store_is_upgraded_once_before_airflow_starts(
    services: dict[str, dict],
) -> None:
    """`mlops store upgrade` runs in a one-shot service on the store Airflow's tasks use; tasks
    never create tables (a `Store` does no DDL), so the daemons wait for it."""
    init = services["store-init"]
    assert init.get("entrypoint") == ["mlops"] and command_args(init) == ["store", "upgrade"]
    assert init.get("restart") == "no"
    assert init.get("image") == services["airflow-scheduler"].get("image")
    assert env_of(init)["CT_STORE_URL"] == env_of(services["airflow-scheduler"])["CT_STORE_URL"]
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in AIRFLOW_DAEMONS:
        depends = services[name].get("depends_on") or {}
        assert depends.get("store-init", {}).get("condition") == (
            "service_completed_successfully"), f"{name} must wait for store-init"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mlops"] == "mlops_dev.cli:main"
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", DOCKERFILE.read_text(), re.M)
    assert {"mlops_lib", "mlops_dev", "sql"} <= set(copied), copied  # sql/migrations ships

def test_dockerfile_airflow_matches_the_locked_airflow_version() -> None:
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M | re.I)
    assert froms, "Dockerfile has no FROM"
    base = froms[-1]
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", base)
    assert match, f"final stage is not an apache/airflow image: {base}"

    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    assert match.group(1) == locked["apache-airflow"], (
        f"Dockerfile uses Airflow {match.group(1)}, uv.lock pins {locked['apache-airflow']}"
    )
    major, minor = map(int, match.group(2).split("."))
    assert (3, 11) <= (major, minor) < (3, 13), "image Python outside requires-python"


def test_no_secret_has_a_default_and_each_comes_from_dot_env() -> None:
    """Every secret compose uses is `${VAR:?...}` (compose stops with that message when the
    user's .env lacks it), .env.example lists exactly those, and no well-known value is left."""
    text = COMPOSE_FILE.read_text()
    required = {m.group(1) for m in _VAR.finditer(text) if m.group(2) == ":?"}
    assert required == set(SECRETS), f"compose requires {sorted(required)}; " \
        f".env.example lists {sorted(SECRETS)}"
    for m in _VAR.finditer(text):
        if m.group(1) in SECRETS:
            assert m.group(2) == ":?" and ".env.example" in m.group(3), m.group(0)
    with pytest.raises(KeyError, match="set MLFLOW_ADMIN_PASSWORD in .env, see .env.example"):
        interpolate(text, {k: v for k, v in SECRETS.items() if k != "MLFLOW_ADMIN_PASSWORD"})
    assert re.findall(r"^[A-Z][A-Z0-9_]*=(.+)$", ENV_EXAMPLE.read_text(), re.M) == [], \
        ".env.example must not hold values: copied unchanged, compose has to refuse it"
    for known in ("change-me", "ctminio-secret", ":airflow@", ":mlflow@", ":ct@",
                  "POSTGRES_PASSWORD: postgres", "password1234"):
        assert known not in text, known
    assert "/.env" in (REPO / ".gitignore").read_text().splitlines()


def test_the_documented_line_makes_a_dot_env_with_every_secret(tmp_path: Path) -> None:
    readme_lines = [line.strip() for line in (REPO / "README.md").read_text().splitlines()
                    if line.strip().endswith("> .env")]
    example_lines = [line.lstrip("# ").strip() for line in ENV_EXAMPLE.read_text().splitlines()
                     if line.strip().endswith("> .env")]
    assert readme_lines and readme_lines == example_lines, (readme_lines, example_lines)
    (tmp_path / ".env.example").write_text(ENV_EXAMPLE.read_text())
    subprocess.run(["sh", "-c", readme_lines[0].replace("python3", sys.executable, 1)],
                   cwd=tmp_path, check=True, timeout=60)
    made = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (tmp_path / ".env").read_text(), re.M))
    assert set(made) == set(SECRETS)
    assert all(re.fullmatch(r"[0-9a-f]{48}", v) for v in made.values()), made
    assert len(set(made.values())) == len(made), "two secrets got the same value"
    interpolate(COMPOSE_FILE.read_text(), made)  # nothing missing


def test_mlflow_runs_basic_auth_and_the_tasks_log_in_as_its_service_account(
    services: dict[str, dict], compose: dict,
) -> None:
    mlflow = services["mlflow"]
    args = command_args(mlflow)
    assert args[args.index("--app-name") + 1] == "basic-auth"
    env = env_of(mlflow)
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == SECRETS["MLFLOW_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == SECRETS["MLFLOW_FLASK_SECRET_KEY"]
    mounts = dict(str(v).split(":")[1::-1] for v in mlflow.get("volumes", []))
    ini = REPO / mounts[env["MLFLOW_AUTH_CONFIG_PATH"]]
    auth = configparser.ConfigParser()
    auth.read(ini)
    assert auth["mlflow"]["default_permission"] == "READ"
    assert "admin_password" not in auth["mlflow"], "the admin password belongs in .env"
    auth_db = make_url(auth["mlflow"]["database_uri"]).database or ""
    volumes = compose.get("volumes") or {}
    assert any(auth_db.startswith(target + "/") and source in volumes
               for target, source in mounts.items()), \
        f"MLflow's user database {auth_db} is not on a named volume (mounts: {mounts})"

    init = services["mlflow-init"]
    init_env = env_of(init)
    assert init["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert init_env["MLFLOW_AUTH_ADMIN_PASSWORD"] == env["MLFLOW_AUTH_ADMIN_PASSWORD"]
    for name in AIRFLOW_DAEMONS:
        task_env = env_of(services[name])
        assert (task_env["MLFLOW_TRACKING_USERNAME"], task_env["MLFLOW_TRACKING_PASSWORD"]) == (
            init_env["MLFLOW_TRACKING_USERNAME"], init_env["MLFLOW_TRACKING_PASSWORD"])
        depends = services[name]["depends_on"]
        assert depends["mlflow-init"]["condition"] == "service_completed_successfully", name


def test_the_exporter_reads_the_store_the_tasks_write_and_prometheus_scrapes_it(
    services: dict[str, dict],
) -> None:
    """`mlops exporter` runs on the project image with the Airflow services' settings (the same
    store), Prometheus mounts deploy/prometheus and scrapes the exporter's port, and Airflow
    pushes its OpenTelemetry metrics to that exporter."""
    exporter = services["exporter"]
    assert exporter.get("entrypoint") == ["mlops"]
    args = command_args(exporter)
    assert args[:2] == ["exporter", "--port"], args
    port = args[2]
    assert exporter.get("image") == services["airflow-scheduler"].get("image")
    env = env_of(exporter)
    tasks = env_of(services["airflow-scheduler"])
    assert {k: env.get(k) for k in CT_ENV} == {k: tasks[k] for k in CT_ENV}
    assert env["CT_STORE_URL"] == tasks["CT_STORE_URL"]
    assert exporter["depends_on"]["store-init"]["condition"] == "service_completed_successfully"
    assert any(f"localhost:{port}/healthz" in str(p) for p in exporter["healthcheck"]["test"])

    prometheus = services["prometheus"]
    mounts = {t: s for s, t, *_ in (str(v).split(":") for v in prometheus["volumes"])}
    config_dir = REPO / mounts["/etc/prometheus"]
    assert config_dir.resolve() == REPO / "deploy" / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in command_args(prometheus)
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] if job["job_name"] == "ct-exporter"
               for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"exporter:{port}"], targets
    assert all((config_dir / f).is_file() for f in config["rule_files"])

    for name in AIRFLOW_DAEMONS:
        otel = env_of(services[name])
        assert otel["AIRFLOW__METRICS__OTEL_ON"] == "True", name
        assert otel["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == (
            f"http://exporter:{port}/v1/metrics"), name


def test_grafana_provisions_prometheus_and_the_dashboard(services: dict[str, dict]) -> None:
    grafana = services["grafana"]
    env = env_of(grafana)
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["GRAFANA_ADMIN_PASSWORD"]
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    mounts = {t: s for s, t, *_ in (str(v).split(":") for v in grafana["volumes"])}
    provisioning = REPO / mounts["/etc/grafana/provisioning"]
    assert provisioning.resolve() == REPO / "deploy" / "grafana" / "provisioning"
    sources = [s for f in (provisioning / "datasources").glob("*.yml")
               for s in yaml.safe_load(f.read_text())["datasources"]]
    assert [urlsplit(s["url"]).netloc for s in sources] == ["prometheus:9090"]
    ports = [interpolate(p) for p in services["prometheus"]["ports"]]
    assert ports == ["127.0.0.1:9090:9090"], ports
    assert [interpolate(p) for p in grafana["ports"]] == ["127.0.0.1:3000:3000"]
