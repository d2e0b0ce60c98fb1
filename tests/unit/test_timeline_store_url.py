"""A timeline store's URL as the service logs it (``store.url``: "safe to log") never holds
the database password, wherever the URL gives it; the connection still gets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hl7bus.services.timeline.store_sql import (
    PostgresBackend,
    SqliteBackend,
    StoreUrlError,
    backend_for,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://hl7bus:s3cret@db:5432/hl7bus?schema=tl",
            "postgresql://hl7bus:***@db:5432/hl7bus?schema=tl",
        ),
        (
            "postgresql://hl7bus@db/hl7bus?password=s3cret&schema=tl",
            "postgresql://hl7bus@db/hl7bus?password=***&schema=tl",
        ),
        (
            "postgres://db/hl7bus?user=hl7bus&password=s3cret&sslmode=require",
            "postgres://db/hl7bus?user=hl7bus&password=***&sslmode=require",
        ),
        ("postgresql://hl7bus@db/hl7bus", "postgresql://hl7bus@db/hl7bus"),
    ],
)
def test_a_postgresql_url_is_shown_without_its_password(url: str, shown: str) -> None:
    backend = backend_for(url)
    assert isinstance(backend, PostgresBackend)
    assert backend.url == shown
    assert "s3cret" not in backend.url
    if "s3cret" in url:
        assert "s3cret" in backend.conninfo  # the connection still has it
    assert "schema=" not in backend.conninfo


def test_the_schema_parameter_names_the_schema() -> None:
    assert backend_for("postgresql://db/hl7bus?schema=tl").schema == "tl"
    assert backend_for("postgresql://db/hl7bus").schema == "timeline"
    with pytest.raises(StoreUrlError):
        backend_for("postgresql://db/hl7bus?schema=")


def test_a_sqlite_url_names_its_file() -> None:
    backend = backend_for("sqlite:///~/tl.db")
    assert isinstance(backend, SqliteBackend)
    assert backend.path == Path("~/tl.db").expanduser()
    assert backend.url == "sqlite:///~/tl.db"
    for url in ("sqlite://tl.db", "sqlite:///", "mysql://db/tl"):
        with pytest.raises(StoreUrlError):
            backend_for(url)
