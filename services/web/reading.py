"""Reading the timeline store from a request: what the store cannot do becomes an answer
of the API — a cursor it does not know is a 400, a database it cannot reach a 503."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from hl7bus.services.timeline.store import InvalidCursor, QueryError
from hl7bus.services.timeline.store import StoreUnavailable as StoreDown
from hl7bus.services.web.errors import ApiError, bad_parameter

log = logging.getLogger("hl7bus.web")


class StoreUnavailable(ApiError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "store_unavailable",
            "The timeline store is unavailable; try again shortly.",
            {"Retry-After": "5"},
        )


@contextlib.contextmanager
def reading() -> Iterator[None]:
    try:
        yield
    except InvalidCursor:
        raise bad_parameter(
            "The query parameter cursor is not one this API gave out; start again without it.",
            "bad_cursor",
        ) from None
    except QueryError as exc:  # a time, limit or search the store cannot take
        message = str(exc)
        raise bad_parameter(message[:1].upper() + message[1:].rstrip(".") + ".") from None
    except OverflowError:  # a number (in a cursor) larger than the database's integers
        raise bad_parameter(
            "The query parameter cursor is not one this API gave out; start again without it.",
            "bad_cursor",
        ) from None
    except StoreDown:
        log.error("timeline store unavailable")
        raise StoreUnavailable() from None
