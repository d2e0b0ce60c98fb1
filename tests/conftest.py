"""Shared test set-up.  Integration tests get a real Kafka broker and schema registry:

1. from the environment, when ``HL7BUS_TEST_BOOTSTRAP`` and ``HL7BUS_TEST_REGISTRY`` are set;
2. else from testcontainers, when a Docker engine answers;
3. else the local stack of ``hl7bus dev up`` (its parts that are not running started
   here, and stopped again at the end: only those).

No broker is a loud failure, never a skip.  Tests marked ``corpus`` read the public HL7 sample
corpus in place (``../shared/corpus``, or ``HL7BUS_CORPUS``); when any of them is selected
and the corpus is not there, the run stops at once with one sentence, never a skip.  The
rest (``make test``) needs nothing beside the clone.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cleanup import RUN_PREFIX, forget, forget_subjects, leftovers

from paths import CORPUS, REPO, corpus_missing  # noqa: F401 - re-exported for tests


@dataclass(frozen=True)
class BusEndpoints:
    bootstrap_servers: str
    registry_url: str
    origin: str


def pytest_collection_finish(session: pytest.Session) -> None:
    """Selected tests that read the corpus, and no corpus: fail the run before it starts."""
    if any(item.get_closest_marker("corpus") for item in session.items):
        missing = corpus_missing()
        if missing:
            raise pytest.UsageError(missing)


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _from_testcontainers(stack: list) -> BusEndpoints:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    stack.append(kafka)
    registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
    registry.start()
    stack.append(registry)
    wait_for_logs(registry, "started in", timeout=180)
    host = registry.get_container_host_ip()
    port = registry.get_exposed_port(8080)
    return BusEndpoints(
        kafka.get_bootstrap_server(), f"http://{host}:{port}/apis/ccompat/v7", "testcontainers"
    )


@pytest.fixture(scope="session")
def bus() -> Iterator[BusEndpoints]:
    """The broker and registry of this run.  At its end, no topic or subject this run made
    may be left: a test that leaves one fails the run."""
    with _endpoints() as endpoints:
        yield endpoints
        left = leftovers(endpoints.bootstrap_servers, endpoints.registry_url)
        if left:
            pytest.fail(
                f"The tests left {len(left)} topics and subjects behind "
                f"({endpoints.origin}): {', '.join(left)}",
                pytrace=False,
            )


@contextlib.contextmanager
def _endpoints() -> Iterator[BusEndpoints]:
    bootstrap = os.environ.get("HL7BUS_TEST_BOOTSTRAP")
    registry = os.environ.get("HL7BUS_TEST_REGISTRY")
    if bootstrap and registry:
        yield BusEndpoints(bootstrap, registry, "environment")
        return
    if _docker_engine_answers():
        containers: list = []
        try:
            yield _from_testcontainers(containers)
        finally:
            for container in reversed(containers):
                container.stop()
        return
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.settings import DevStackSettings

    stack = LocalStack(DevStackSettings())
    before = stack.status()
    started_here = frozenset(role for role, pid in before.pids.items() if pid is None)
    try:
        status = stack.up(echo=lambda line: print(f"[dev stack] {line}"))
    except Exception as exc:
        pytest.fail(f"No Kafka broker for the integration tests: {exc}", pytrace=False)
    try:
        yield BusEndpoints(status.bootstrap_servers, status.registry_url, "local dev stack")
    finally:
        if started_here:  # what this run started, and nothing else
            stack.down(echo=lambda line: print(f"[dev stack] {line}"), only=started_here)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names no other test (or earlier run) uses: topics, groups, subjects."""

    def make(kind: str) -> str:
        test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:48].strip("-")
        return f"{RUN_PREFIX}{kind}.{test}.{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def kafka_settings(bus: BusEndpoints):
    from hl7bus.settings import KafkaSettings

    return KafkaSettings(bootstrap_servers=bus.bootstrap_servers)


@pytest.fixture
def registry_settings(bus: BusEndpoints):
    from hl7bus.settings import RegistrySettings

    return RegistrySettings(url=bus.registry_url)


@pytest.fixture
def new_topic(kafka_settings, registry_settings, unique_name) -> Iterator[Callable[..., str]]:
    """Create a fresh topic for this test and return its name (deleted after the test)."""
    from hl7bus.kafka.clients import ensure_topics

    made: list[str] = []

    def make(kind: str = "topic", partitions: int = 1) -> str:
        name = unique_name(kind)
        ensure_topics(kafka_settings, [name], partitions=partitions)
        made.append(name)
        return name

    yield make
    forget(kafka_settings, registry_settings.url, made)


@pytest.fixture
def new_subject(registry_settings, unique_name) -> Iterator[Callable[[str], str]]:
    """A fresh ``-value`` subject name for this test (the subject is deleted after it)."""
    made: list[str] = []

    def make(kind: str = "subject") -> str:
        made.append(unique_name(kind) + "-value")
        return made[-1]

    yield make
    forget_subjects(registry_settings.url, made)


# -- PostgreSQL, for the timeline store (tests/postgres.py) --------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this run: ``HL7BUS_TEST_POSTGRES``, else Debian's
    PostgreSQL started here as an unprivileged user (stopped at the end).  Not installed:
    the tests that need it fail saying what to install."""
    from postgres import postgres_server

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield url
