"""From HL7 v2 to canonical events: route each message by type and trigger through a
table of small mappers; a well-formed message of a type without a mapper gives no event.
Pure: values in, values out."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

from hl7bus.errors import ErrorCode, MessageError, internal_error
from hl7bus.events.model import ClinicalEvent
from hl7bus.hl7 import Message, parse_message
from hl7bus.mapping import (
    adt,
    diet,
    dispensing,
    documents,
    financial,
    orders,
    pharmacy,
    problems,
    referrals,
    results,
    scheduling,
    specimens,
)
from hl7bus.mapping.acceptance import check_header
from hl7bus.mapping.context import MessageContext, Receipt
from hl7bus.mapping.profiles import ProfileSet, SenderProfile

Mapper = Callable[[MessageContext], list[ClinicalEvent]]

MAPPERS: dict[tuple[str, str], Mapper] = {
    **{("ADT", trigger): adt.map_patient_event for trigger in adt.ADT_EVENTS},
    **{("ADT", trigger): adt.map_merge for trigger in adt.MERGE_EVENTS},
    ("ADT", "A24"): adt.map_link,
    ("ADT", "A37"): adt.map_link,
    ("ADT", "A45"): adt.map_visit_move,
    ("ORU", "R01"): results.map_results,
    ("ORU", "R30"): results.map_results,
    ("ORU", "R31"): results.map_results,
    ("ORU", "R32"): results.map_results,
    **{("OUL", trigger): specimens.map_specimen_results for trigger in ("R22", "R23", "R24")},
    ("ORM", "O01"): orders.map_orders,
    ("OML", "O21"): orders.map_orders,
    ("OML", "O33"): orders.map_specimen_orders,
    ("OMG", "O19"): orders.map_general_order,
    ("OMD", "O03"): diet.map_diet_order,
    ("RDE", "O11"): pharmacy.map_pharmacy_order,
    # O25: a refill authorization request, the order as RDE^O11 carries it.
    ("RDE", "O25"): pharmacy.map_pharmacy_order,
    ("RAS", "O17"): pharmacy.map_administration,
    ("RDS", "O13"): dispensing.map_dispense,
    **{("PPR", trigger): problems.map_problems for trigger in problems.PROBLEM_EVENTS},
    **{("REF", trigger): referrals.map_referral for trigger in referrals.REFERRAL_EVENTS},
    ("BAR", "P01"): financial.map_account,
    ("BAR", "P02"): financial.map_purge,
    ("BAR", "P12"): financial.map_account,
    ("DFT", "P03"): financial.map_charges,
    ("DFT", "P11"): financial.map_charges,
    # Before v2.4 the pharmacy messages all used trigger O01 (v2.3 RDE^O01, RAS^O01);
    # senders keep it in later versions too.
    ("RDE", "O01"): pharmacy.map_pharmacy_order,
    ("RAS", "O01"): pharmacy.map_administration,
    ("VXU", "V04"): pharmacy.map_vaccination,
    **{("SIU", trigger): scheduling.map_appointment for trigger in scheduling.SIU_EVENTS},
    **{("MDM", f"T{n:02d}"): documents.map_document for n in range(1, 12)},
}


@dataclass(frozen=True, slots=True)
class Translation:
    message: Message
    profile: SenderProfile
    events: list[ClinicalEvent]
    mapped: bool = True
    """False for a well-formed message of a type hl7bus has no mapper for (an ACK, a query,
    a master file update, a vendor's Z-type, an ADT trigger not translated yet): it gives
    no event, and is no error."""

    @property
    def kind(self) -> str:
        """The message's type and trigger as MSH-9 names them: ``QBP^Q22``, ``ACK``."""
        return message_kind(self.message.message_type, self.message.trigger_event)


def message_kind(message_type: str, trigger_event: str) -> str:
    return f"{message_type}^{trigger_event}" if trigger_event else message_type


def _require_conformance(message: Message) -> None:
    from hl7bus.hl7.standard import check

    found = check(message)
    if found.errors:
        more = f" (and {len(found.errors) - 1} more)" if len(found.errors) > 1 else ""
        raise MessageError(
            ErrorCode.DATA_TYPE,
            f"Strict validation against HL7 v{message.version}: {found.errors[0]}{more}",
            control_id=message.control_id or None,
        )


def mapper_for(message: Message) -> Mapper | None:
    """The mapper of the message's type and trigger; None when hl7bus has none."""
    return MAPPERS.get((message.message_type, message.trigger_event))


def translate_message(
    message: Message, profile: SenderProfile, receipt: Receipt
) -> list[ClinicalEvent]:
    """The events of one parsed message (none when hl7bus has no mapper for its type);
    :class:`MessageError` when it cannot be translated."""
    mapper = mapper_for(message)
    if mapper is None:
        return []
    ctx = MessageContext(message, profile, receipt)
    try:
        return mapper(ctx)
    except MessageError as exc:
        raise exc.with_control_id(message.control_id or None) from None
    except Exception as exc:  # a mapping bug must not stop the bus: the message is rejected
        error = internal_error(exc, f"this {message.message_type}^{message.trigger_event}")
        raise error.with_control_id(message.control_id or None) from exc


def translate(
    data: bytes | str, profiles: ProfileSet, receipt: Receipt = Receipt(), *, strict: bool = False
) -> Translation:
    """Parse and translate one message's bytes, with the sender's profile.

    A well-formed message (:mod:`hl7bus.mapping.acceptance`) of a type hl7bus has no
    mapper for is a :class:`Translation` without events (``mapped`` False); a message that
    is not well-formed, or whose content a mapper cannot read, is a :class:`MessageError`.
    ``strict`` also checks the message against its version of the standard (slow) and
    rejects it when it breaks it."""
    message = parse_message(data)
    check_header(message)
    if strict:
        _require_conformance(message)
    profile = profiles.for_sender(message.sending_application, message.sending_facility)
    if (
        profile.default_charset
        and not message.charset_declared
        and isinstance(data, bytes)
        and message.text.used != codecs.lookup(profile.default_charset).name
    ):
        message = parse_message(data, default_charset=profile.default_charset)
    events = translate_message(message, profile, receipt)
    return Translation(message, profile, events, mapped=mapper_for(message) is not None)
