"""Access entries: contacts, teams, channels and the dashboard figures."""

from tests.api.matrix import ALL, MANAGER, TEAM_A_READ, Access

ACCESS = {
    # A list shows what the token may see; another team's token gets its own (empty) list.
    "api:contacts": Access("get", ALL, team_bound=False),
    # The sample contact wrote only in team A's conversation.
    "api:contact": Access("get", TEAM_A_READ, url_kwargs=lambda w: {"pk": w["contact"].pk}),
    "api:teams": Access("get", ALL, team_bound=False),
    "api:team": Access("get", TEAM_A_READ, url_kwargs=lambda w: {"pk": w["team_a"].pk}),
    "api:channels": Access("get", ALL, team_bound=False),
    # As the dashboards: managers (and admins); a token limited to team B counts team B.
    "api:figures": Access("get", MANAGER, team_bound=False),
}
