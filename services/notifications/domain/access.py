"""Who may see and do what in the notifications service (object-level rules; scopes are checked by the routers).

- An agency sees and acts on its own alerts, deadlines and channels.
- A caller with `notifications:operator` (the city's operations team) sees and acts on everything.
- The reporting authority (SNN: every report goes to it, plan 219 V.8) also sees every agency's deadlines and
  alerts, and may request ad-hoc reports from any agency; it acknowledges and resolves only its own alerts.
"""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import Forbidden

READ = "notifications:read"
WRITE = "notifications:write"
OPERATOR = "notifications:operator"


def is_operator(principal: Principal) -> bool:
    return principal.has(OPERATOR)


def may_act_for(principal: Principal, agency_code: str) -> bool:
    return is_operator(principal) or principal.agency == agency_code


def require_act_for(principal: Principal, agency_code: str, *, field: str = "agency") -> None:
    if not may_act_for(principal, agency_code):
        raise Forbidden(
            f"Cơ quan '{principal.agency}' không được thao tác thay cho '{agency_code}' (not your agency)",
            errors=[{"field": field, "message": f"only {principal.agency!r} or an operator"}],
        )


def may_oversee(principal: Principal, authority: str) -> bool:
    """Operators and the reporting authority see every agency's deadlines and alerts, and may request reports
    from any."""
    return is_operator(principal) or principal.agency == authority
