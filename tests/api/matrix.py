"""The API's access policy as data: per endpoint, who may call it with which token scope.

Each area keeps its entries in tests/api/access_<area>.py as `ACCESS: dict[str, Access]`, keyed
by URL name; tests/api/test_matrix.py runs every entry for every role and token scope, and fails
on an API route without an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ROLES = ("coordinator", "staff_a", "staff_b", "manager", "admin_user")
ALL = frozenset(ROLES)
COORD = frozenset({"coordinator", "admin_user"})
MANAGER = frozenset({"manager", "admin_user"})
ADMIN = frozenset({"admin_user"})
# The sample conversation belongs to team A: its staff, coordinators and admins act on it;
# managers read every team.
TEAM_A_ACT = frozenset({"coordinator", "staff_a", "admin_user"})
TEAM_A_READ = TEAM_A_ACT | {"manager"}

# The token each case calls with: read-only, read-write, and read-write limited to team B.
TOKEN_VARIANTS = ("read", "write", "team_b")


@dataclass(frozen=True)
class Access:
    method: str  # "get" | "post" | "patch" | "delete"
    roles: frozenset[str]  # whose tokens may call it
    scope: str = "read"  # the token scope it needs: "read" or "write"
    # The sample object is in team A: a token limited to team B gets 403 or 404.
    team_bound: bool = True
    url_kwargs: Callable[[dict], dict] | None = None  # from the world (test_matrix.world)
    body: Callable[[dict], dict] | None = None  # the JSON body, from the world
    public: bool = False  # answers without a token too (the schema and its docs)

    def allows(self, role: str, variant: str) -> bool:
        if role not in self.roles:
            return False
        if self.scope == "write" and variant == "read":
            return False
        return not (self.team_bound and variant == "team_b")
