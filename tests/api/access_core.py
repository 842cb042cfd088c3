"""Access entries: the schema and its docs (public: they hold no data) and who-am-I."""

from tests.api.matrix import ALL, Access

ACCESS = {
    "api:schema": Access("get", ALL, team_bound=False, public=True),
    "api:docs": Access("get", ALL, team_bound=False, public=True),
    "api:me": Access("get", ALL, team_bound=False),
}
