"""Who is asking, and may they: ``Authorization: Bearer <token>`` on every request but
``/healthz``.  No token, a malformed, wrongly signed or expired one: 401 with
``WWW-Authenticate: Bearer``; a valid token whose role may not do this: 403."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hl7bus.services.web.audit import AuditNote, AuditUnavailable
from hl7bus.services.web.errors import forbidden, unauthenticated, unavailable
from hl7bus.services.web.tokens import (
    ALERT_CHANGE_ROLES,
    OPERATIONS_ROLES,
    PATIENT_DATA_ROLES,
    Principal,
    Role,
    TokenError,
    verify,
)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `hl7bus token create --role ROLE --name NAME`.",
)


def allowed(role: Role, roles: Collection[Role]) -> bool:
    """Whether ``role`` may do what ``roles`` may; an admin may do everything."""
    return role is Role.ADMIN or role in roles


def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    """The principal of the request's bearer token (else 401)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthenticated("This endpoint needs an Authorization: Bearer <token> header.")
    try:
        principal = verify(request.app.state.token_secret, credentials.credentials)
    except TokenError as exc:
        raise unauthenticated(str(exc)) from None
    request.state.principal = principal
    return principal


def patient_access(request: Request, principal: Principal = Depends(authenticated)) -> AuditNote:
    """A dependency of every endpoint that reads patient data: the request is audited from
    here on (its :class:`AuditNote`, written when the answer starts, 403s included); it
    goes on only for the roles that read patient data, and only while the audit can be
    written (else 503 ``audit_unavailable``)."""
    return _audited(
        request,
        principal,
        PATIENT_DATA_ROLES,
        "read patient data",
        "clinician, service or admin",
        [request.path_params.get("patient_key")],
    )


def alert_reading(request: Request, principal: Principal = Depends(authenticated)) -> AuditNote:
    """:func:`patient_access` for the list of alerts, whose patient is a query parameter."""
    return _audited(
        request,
        principal,
        PATIENT_DATA_ROLES,
        "read patient data",
        "clinician, service or admin",
        [request.query_params.get("patient_key")],
    )


def alert_change(request: Request, principal: Principal = Depends(authenticated)) -> AuditNote:
    """:func:`patient_access` for acknowledging and resolving alerts: clinicians and admins
    only (the change names who made it)."""
    return _audited(
        request,
        principal,
        ALERT_CHANGE_ROLES,
        "acknowledge or resolve alerts",
        "clinician or admin",
        [],
    )


def operations(principal: Principal = Depends(authenticated)) -> Principal:
    """A dependency of the operators' endpoints (figures of the bus, no patient data):
    operators and admins only."""
    if not allowed(principal.role, OPERATIONS_ROLES):
        raise forbidden(
            f"The role {principal.role.value} may not read the operators' figures; it needs "
            "operator or admin."
        )
    return principal


def dead_letter_access(
    request: Request, principal: Principal = Depends(authenticated)
) -> AuditNote:
    """:func:`patient_access` for the dead letters (their raw messages hold patient data):
    operators and admins, each request audited."""
    return _audited(
        request,
        principal,
        OPERATIONS_ROLES,
        "read or replay dead letters",
        "operator or admin",
        [],
    )


def _audited(
    request: Request,
    principal: Principal,
    roles: Collection[Role],
    doing: str,
    needed: str,
    keys: Iterable[str | None],
) -> AuditNote:
    note = AuditNote(principal.name, principal.role.value)
    note.read(*keys)
    request.state.audit = note
    if not allowed(principal.role, roles):
        raise forbidden(f"The role {principal.role.value} may not {doing}; it needs {needed}.")
    try:
        request.app.state.audit.check()
    except AuditUnavailable as exc:
        request.app.state.metrics.audit_refusals.inc()
        raise unavailable("audit_unavailable", str(exc)) from None
    return note
