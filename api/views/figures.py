"""GET /api/v1/figures/: a dashboard panel's figures, the same numbers as its CSV export.

The panel is built by the dashboards' own code (reports.views.panel_data: the same rollups,
the same minute cache) and laid out by reports.panels.export_table, which the CSV export uses
too. Who may read it is the dashboards' rule (reports.selectors.scope_for: managers every team,
team leads the teams they lead), narrowed to the token's teams.
"""

from __future__ import annotations

import dataclasses
from datetime import date

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api import tokens
from api.auth import token_of
from api.views.directory import BAD_INPUT, ERRORS
from reports.definitions import export_notes
from reports.panels import PANELS, export_table
from reports.periods import DEFAULT_DAYS, PERIOD_CHOICES, Period
from reports.selectors import Scope, scope_for
from reports.views import MAX_CUSTOM_DAYS, panel_data


class FiguresQuerySerializer(serializers.Serializer):
    panel = serializers.ChoiceField(
        choices=sorted(PANELS),
        required=False,
        default="response",
        help_text=_("Which dashboard panel."),
    )
    days = serializers.ChoiceField(
        choices=PERIOD_CHOICES,
        required=False,
        default=DEFAULT_DAYS,
        help_text=_("The last N whole days up to and including today (ignored with from/to)."),
    )
    # "from" is a Python keyword: get_fields() adds that field.
    to = serializers.DateField(required=False, help_text=_("Last day, inclusive (with from)."))
    team = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Only this team (a team you may see).")
    )
    orphans = serializers.ChoiceField(
        choices=["include", "exclude"],
        required=False,
        default="include",
        help_text=_(
            "exclude: leave out conversations that began with a reply to a message we never had."
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text=_("First day (YYYY-MM-DD), with to.")
        )
        return fields

    def validate(self, attrs: dict) -> dict:
        first, last = attrs.get("from"), attrs.get("to")
        if (first is None) != (last is None):
            raise serializers.ValidationError({"to": [_("Give both from and to, or neither.")]})
        if first is not None and last is not None:
            if first > last:
                raise serializers.ValidationError({"to": [_("The last day is before the first.")]})
            if (last - first).days >= MAX_CUSTOM_DAYS:
                raise serializers.ValidationError({"from": [_("The period is too long.")]})
        return attrs


@extend_schema_field({"anyOf": [{"type": "string"}, {"type": "number"}]})
class CellField(serializers.Field):
    def to_representation(self, value):
        return value


class PeriodSerializer(serializers.Serializer):
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    days = serializers.IntegerField()


class FiguresSerializer(serializers.Serializer):
    panel = serializers.CharField()
    title = serializers.CharField()
    period = PeriodSerializer()
    teams = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text=_("The teams counted; null: every team."),
    )
    without_orphans = serializers.BooleanField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=CellField()))
    notes = serializers.ListField(
        child=serializers.CharField(), help_text=_("The lines above the CSV export's table.")
    )
    definitions = serializers.ListField(child=serializers.CharField())


def _scope(request: Request, team_id: int | None, *, without_orphans: bool) -> Scope:
    """The dashboards' scope for the person, narrowed to the token's teams."""
    scope = scope_for(request.user, team_id)
    token = token_of(request)
    limit = tokens.team_ids_of(token) if token is not None else frozenset()
    if limit:
        if scope.departments is None:
            scope = Scope(tuple(sorted(limit)))
        else:
            narrowed = tuple(d for d in scope.departments if d in limit)
            if not narrowed:
                raise PermissionDenied
            scope = Scope(narrowed)
    return dataclasses.replace(scope, without_orphans=without_orphans)


def _cell(value):
    return value if isinstance(value, int | float) else str(value)


@extend_schema(
    operation_id="figures_retrieve",
    summary="Dashboard figures of one panel (the same numbers as its CSV export)",
    parameters=[FiguresQuerySerializer],
    responses={200: FiguresSerializer, **BAD_INPUT, **ERRORS},
)
@api_view(["GET"])
def figures(request: Request) -> Response:
    query = FiguresQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    first: date | None = params.get("from")
    last: date | None = params.get("to")
    period = (
        Period.between(first, last)
        if first is not None and last is not None
        else Period.ending_today(int(params["days"]))
    )
    scope = _scope(request, params.get("team"), without_orphans=params["orphans"] == "exclude")
    data = panel_data(params["panel"], period, scope)
    columns, rows = export_table(data)
    return Response(
        FiguresSerializer(
            {
                "panel": params["panel"],
                "title": str(data.title),
                "period": {
                    "first_day": period.start.date(),
                    "last_day": period.last_day,
                    "days": period.days,
                },
                "teams": list(scope.departments) if scope.departments is not None else None,
                "without_orphans": scope.without_orphans,
                "columns": columns,
                "rows": [[_cell(v) for v in row] for row in rows],
                "notes": [str(line) for line in export_notes(data, period, scope)],
                "definitions": list(data.definitions),
            }
        ).data
    )
