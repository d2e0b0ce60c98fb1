"""docker-compose.yml keeps its data and starts in order: Kafka writes its log directory
onto a named volume, the registry keeps its schemas in Kafka, every long-running service
has a health check, and the bus's parts start only after ``bus-setup`` has finished.

Read as plain YAML (with its ``<<`` merge keys), as ``docker compose config`` reads it;
``.ci/run`` also has Docker Compose itself validate the file.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
import yaml

from paths import REPO

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment, written as a mapping or as a list of ``KEY=value``."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def named_volume_mounts(compose: dict, service: dict) -> dict[str, PurePosixPath]:
    """Named volume → the path it is mounted at in the service (bind mounts left out)."""
    declared = set(compose.get("volumes") or {})
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            kind = "volume" if source in declared else "bind"
        else:
            source, target = volume.get("source"), volume["target"]
            kind = volume.get("type", "volume")
        if kind == "volume" and source in declared:
            mounts[source] = PurePosixPath(target)
    return mounts


def one_shot(services: dict) -> set[str]:
    """Services that others wait to have completed: they run once and exit."""
    names = set()
    for service in services.values():
        depends = service.get("depends_on") or {}
        if isinstance(depends, dict):
            for name, rule in depends.items():
                if (rule or {}).get("condition") == "service_completed_successfully":
                    names.add(name)
    return names


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


def is_hl7bus_part(service: dict) -> bool:
    return service.get("image") == "hl7bus:local" or "build" in service


def test_kafka_log_dirs_are_on_a_named_volume(compose, services):
    kafka = services["kafka"]
    log_dirs = environment(kafka).get("KAFKA_LOG_DIRS")
    assert log_dirs, (
        "set KAFKA_LOG_DIRS: unset, the apache/kafka image writes to "
        "/tmp/kraft-combined-logs inside the container and topics vanish with it"
    )
    mounts = named_volume_mounts(compose, kafka)
    assert mounts, "kafka mounts no named volume"
    for log_dir in log_dirs.split(","):
        path = PurePosixPath(log_dir.strip())
        assert any(path == target or target in path.parents for target in mounts.values()), (
            f"KAFKA_LOG_DIRS {path} is not on a named volume ({mounts})"
        )


def test_registry_keeps_its_schemas_in_kafka(services):
    env = environment(services["registry"])
    assert env.get("APICURIO_STORAGE_KIND") == "kafkasql"
    servers = env.get("APICURIO_KAFKASQL_BOOTSTRAP_SERVERS", "")
    hosts = {server.strip().split(":")[0] for server in servers.split(",")}
    assert hosts <= set(services), f"the registry's Kafka {hosts} is not a service of the file"


def test_every_long_running_service_has_a_health_check(services):
    once = one_shot(services)
    assert "bus-setup" in once, "nothing waits for bus-setup to complete"
    for name, service in services.items():
        if name in once:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert check.get("test") not in (["NONE"], "NONE"), f"{name} turns its health check off"


def test_registry_health_check_asks_its_management_port(services):
    text = healthcheck_text(services["registry"])
    # Apicurio Registry 3.x serves /health/{ready,live} on its management port, 9000.
    assert re.search(r":9000/health/(ready|live)\b", text), text


def _healthz_port(key: str) -> bool:
    """A setting of the port a part serves /healthz on: its metrics port, or the web API's."""
    return key.startswith("HL7BUS_") and (key.endswith("_METRICS_PORT") or key == "HL7BUS_WEB_PORT")


def clients(services: dict) -> set[str]:
    """Services that feed the bus from outside, only on request (a compose profile)."""
    return {name for name, service in services.items() if service.get("profiles")}


def test_parts_check_healthz_on_their_metrics_port(services):
    parts = {
        n: s
        for n, s in services.items()
        if is_hl7bus_part(s) and n not in one_shot(services) | clients(services)
    }
    assert {"mllp", "files", "timeline", "web"} <= set(parts)
    for name, service in parts.items():
        ports = [value for key, value in environment(service).items() if _healthz_port(key)]
        assert ports, f"{name} sets no HL7BUS_*_METRICS_PORT, so it serves no /healthz"
        text = healthcheck_text(service)
        assert any(f":{port}/healthz" in text for port in ports), f"{name}: {text}"


def test_parts_start_after_bus_setup_completed(services):
    for name, service in services.items():
        if not is_hl7bus_part(service) or name == "bus-setup":
            continue
        depends = service.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        assert (depends.get("bus-setup") or {}).get("condition") == (
            "service_completed_successfully"
        ), f"{name} does not wait for bus-setup to complete"


def test_bus_setup_waits_for_healthy_kafka_and_registry(services):
    depends = services["bus-setup"].get("depends_on")
    assert isinstance(depends, dict)
    for needed in ("kafka", "registry"):
        assert (depends.get(needed) or {}).get("condition") == "service_healthy", needed
    assert services["bus-setup"].get("restart", "no") == "no"


def test_file_inbox_is_a_named_volume_owned_by_the_image_user(compose, services):
    files = services["files"]
    inbox = PurePosixPath(files["command"][-1])
    mounts = named_volume_mounts(compose, files)
    assert inbox in mounts.values(), (
        f"mount a named volume at {inbox}: it takes the owner of the image's folder, "
        "where a bind-mounted host folder keeps root's"
    )
    dockerfile = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image runs as root"
    user = users[-1]
    owned = re.findall(rf"chown\s+(-R\s+)?{re.escape(user)}(?::\S+)?\s+([^\n&;\\]+)", dockerfile)
    assert any(
        PurePosixPath(path) == inbox or (recursive and PurePosixPath(path) in inbox.parents)
        for recursive, paths in owned
        for path in paths.split()
    ), f"the Dockerfile does not give {inbox} to {user}"


def test_the_timeline_store_is_postgresql_on_a_named_volume(compose, services):
    postgres = services["postgres"]
    data = PurePosixPath("/var/lib/postgresql/data")  # the postgres image's PGDATA
    assert data in named_volume_mounts(compose, postgres).values()
    assert "pg_isready" in healthcheck_text(postgres)
    stores = {
        name: environment(services[name])[setting]
        for name, setting in (("timeline", "HL7BUS_TIMELINE_STORE"), ("web", "HL7BUS_WEB_STORE"))
    }
    assert len(set(stores.values())) == 1, f"the web reads another store than is written: {stores}"
    assert all(url.startswith("postgresql://") and "@postgres:" in url for url in stores.values())
    for name in stores:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name


def test_web_takes_its_token_secret_from_the_environment(services):
    env = environment(services["web"])
    assert env.get("HL7BUS_WEB_TOKEN_SECRET", "").startswith("${HL7BUS_WEB_TOKEN_SECRET"), (
        "never a secret written into the file"
    )
    assert env.get("HL7BUS_WEB_HOST") == "0.0.0.0"
    assert "127.0.0.1:8400:8400" in services["web"]["ports"]


def test_the_simulated_hospital_is_a_profile_that_feeds_the_connector(services):
    simulator = services["simulator"]
    assert simulator["profiles"] == ["simulator"]
    assert clients(services) == {"simulator"}, "only the simulator waits to be asked for"
    command = simulator["command"]
    assert command[0] == "simulate"
    target = (command[command.index("--host") + 1], command[command.index("--port") + 1])
    mllp = environment(services["mllp"])
    assert target == ("mllp", mllp["HL7BUS_MLLP_PORT"])
    assert (simulator["depends_on"].get("mllp") or {}).get("condition") == "service_healthy"
    assert "('mllp', 2575)" in healthcheck_text(simulator)


def test_the_connector_reads_the_simulated_vendors_profiles_the_image_holds(services):
    import json

    folders = json.loads(environment(services["mllp"])["HL7BUS_MLLP_PROFILES"])
    assert folders == ["/etc/hl7bus/profiles"]
    dockerfile = DOCKERFILE.read_text()
    assert "cp hl7bus/samples/profiles/ashgrove-*.toml /etc/hl7bus/profiles/" in dockerfile
    assert sorted((REPO / "hl7bus" / "samples" / "profiles").glob("ashgrove-*.toml"))
