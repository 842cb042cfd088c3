"""Hypothesis strategies for hostile input: random JSON, mutated real payloads, nasty texts."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# 5,000 cases per target in CI; no per-example deadline, CI machines are slow.
# FUZZ_EXAMPLES lowers it for a quick local run.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
# A tenth of the cases for targets that drive a whole poll or send through a fake session, or
# mutate large payloads (a YouTube thread with its inline replies): each costs 10-100 times a
# parser call, and at 5,000 they alone would add a quarter of an hour to each CI leg. The
# parsers underneath are fuzzed at full strength by their own targets.
FUZZ_WHOLE = settings(FUZZ, max_examples=max(50, FUZZ.max_examples // 10))

NASTY_STRINGS = [
    "",
    " ",
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # byte-order mark
    "\u202eevil\u202c",  # right-to-left override
    "\u200fمرحبا بالعالم",
    "שלום עולם",
    "👩‍👩‍👧‍👦🏳️‍🌈🇳🇱",
    "e\u0301\u0301\u0301\u0301",  # stacked combining marks
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "[x](javascript:alert(1))",
    "\x00",
    "\ud800",  # a lone surrogate: JSON can carry it as \ud800, UTF-8 cannot
    "NaN",
    "-1",
    "99999999999999999999999999",
    "2024-13-45T99:99:99Z",
    "0000-00-00T00:00:00+00:00",
    "9999-12-31T23:59:59+00:00",
    "at://did:plc:x/app.bsky.feed.post/1",
    "%s%s%n%(x)s{0}",
]
nasty_text = st.sampled_from(NASTY_STRINGS)
# 100 KB texts made of the nastiest characters.
big_text = st.builds(
    lambda unit: (unit * (100_000 // max(1, len(unit))))[:100_000] or "x" * 100_000,
    st.sampled_from(["x", "👩‍👩‍👧‍👦", "\u200b", "ש", "<b>"]),
)
# Mostly short texts (speed), now and then 100 KB (about one string in twenty).
any_text = st.one_of(*([st.text(max_size=40)] * 10), *([nasty_text] * 9), big_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: Python's json reads them
    any_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), nasty_text), children, max_size=5),
    ),
    max_leaves=25,
)


def fixture_json(*parts: str) -> Any:
    return json.loads(FIXTURES.joinpath(*parts).read_text())


def _trim(value: Any) -> Any:
    """The seed with lists cut to three items: the shapes matter, not the volume."""
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trim(v) for v in value[:3]]
    return value


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set(root: Any, path: tuple, op: int, replacement: Any) -> Any:
    if not path:
        return replacement
    parent = root
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return root  # an earlier mutation removed the way there
    last = path[-1]
    try:
        if op == 0 and isinstance(parent, dict):
            parent.pop(last, None)  # field missing
        elif op == 1 and isinstance(parent, list):
            parent.extend(parent)  # repeats
        else:
            parent[last] = replacement
    except (KeyError, IndexError, TypeError):
        pass
    return root


@st.composite
def mutated(draw, seed: Any, paths: list[tuple]) -> Any:
    """A real payload with one to four nodes replaced, dropped or wrongly typed: gets past the
    first isinstance checks into the code that reads fields. Few draws per case: fast."""
    value = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        op = draw(st.integers(0, 5))
        replacement = draw(any_text) if op in (2, 3) else draw(json_values)
        value = _set(value, path, op, replacement)
    return value


def payloads(seed: Any) -> st.SearchStrategy[Any]:
    """Mostly mutated real payloads, some random JSON, and the seed itself."""
    seed = _trim(seed)
    paths = _paths(seed)
    return st.one_of(*([mutated(seed, paths)] * 6), json_values, st.just(seed))
