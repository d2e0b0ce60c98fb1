"""Who is asking, and may they: ``Authorization: Bearer <token>`` on every request but
``/healthz``.  No token, a malformed, wrongly signed or expired one: 401 with
``WWW-Authenticate: Bearer``; a valid token whose role may not do this: 403."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hl7bus.services.web.audit import AuditNote, AuditUnavailable
from hl7bus.services.web.errors import forbidden, unauthenticated, unavailable
from hl7bus.services.web.tokens import PATIENT_DATA_ROLES, Principal, Role, TokenError, verify

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
    note = AuditNote(principal.name, principal.role.value)
    note.read(request.path_params.get("patient_key"))
    request.state.audit = note
    if not allowed(principal.role, PATIENT_DATA_ROLES):
        raise forbidden(
            f"The role {principal.role.value} may not read patient data; it needs "
            "clinician, service or admin."
        )
    try:
        request.app.state.audit.check()
    except AuditUnavailable as exc:
        request.app.state.metrics.audit_refusals.inc()
        raise unavailable("audit_unavailable", str(exc)) from None
    return note
