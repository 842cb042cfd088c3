"""The API against its own OpenAPI schema: schemathesis sends generated requests to every
operation, in-process through WSGI, as a coordinator, a team A staff member and a manager (write
tokens), and fails on any 5xx, any response the schema does not describe (status code or body).

The same runs cover new endpoints by themselves: an operation in the schema that this test did
not exercise fails it. A bounded number of examples per operation keeps the CI legs quick.
"""

from __future__ import annotations

from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from webcare.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = 12  # per operation and token
STATEFUL_STEPS = 15


@pytest.fixture
def api_schema(db):
    """The schema the app serves, loaded through WSGI; requests go the same way.

    Django closes the database connection when a request ends; inside a test that would close
    the test's transaction too, so (as Django's own test client does) not while this runs."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def sample_data(team_a, team_b, channel, staff_a, lead_a):
    """Something for the reads to find: a contact with conversations in both teams."""
    contact = ContactFactory(channel=channel, handle="@huurder")
    for team in (team_a, team_b, None):
        conv = ConversationFactory(
            channel=channel,
            contact=contact,
            department=team,
            received_at=timezone.now() - timedelta(hours=2),
        )
        MessageFactory(conversation=conv, direction="in", created_at=conv.received_at)
    return contact


@pytest.fixture
def bearer(token_for, coordinator, staff_a, manager):
    """Write tokens of three roles, with a rate the fuzzing never reaches (the limit itself is
    tested in test_tokens.py)."""
    return {
        role: {"Authorization": f"Bearer {token_for(user, scope='write', rate_per_minute=100_000)}"}
        for role, user in (("coordinator", coordinator), ("staff_a", staff_a), ("manager", manager))
    }


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation, headers: dict) -> None:
    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_conforms(api_schema, sample_data, bearer):
    tested = set()
    for operation in _operations(api_schema):
        for headers in bearer.values():
            _fuzz(operation, headers)
        tested.add(operation.label)
    # Every operation of the schema ran (a new endpoint is covered by being in the schema).
    assert tested == {op.label for op in _operations(api_schema)}
    assert len(tested) >= 7


def test_stateful_links(api_schema, sample_data, bearer):
    """Chains of calls along the links schemathesis infers (a list's ids into the detail)."""
    machine = api_schema.as_state_machine()
    for auth in bearer.values():

        class Workflow(machine):  # type: ignore[misc, valid-type]
            headers = auth

            def get_call_kwargs(self, case):
                return {"headers": self.headers}

            def validate_response(self, response, case, additional_checks=None, **kwargs):
                case.validate_response(response, checks=CHECKS, headers=self.headers)

        Workflow.run(
            settings=hypothesis.settings(
                max_examples=5,
                stateful_step_count=STATEFUL_STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
        )


def test_it_fails_on_a_server_error(api_schema, sample_data, bearer, monkeypatch):
    """The run is not a formality: an endpoint that breaks makes it fail."""
    from api.views import directory

    def broken(*args, **kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(directory.ChannelSerializer, "to_representation", broken)
    operation = next(op for op in _operations(api_schema) if op.path == "/api/v1/channels/")
    with pytest.raises(FailureGroup) as failures:
        _fuzz(operation, bearer["coordinator"])
    assert any(isinstance(f, ServerError) for f in failures.value.exceptions)
