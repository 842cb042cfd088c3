import random

from hypothesis import given
from hypothesis import strategies as st

from reports.sketch import MIN_SECONDS, exact_percentile, histogram, percentile


@given(
    st.lists(
        st.floats(min_value=MIN_SECONDS, max_value=90 * 86400, allow_nan=False),
        min_size=1,
        max_size=300,
    ),
    st.sampled_from([50, 90, 95, 99]),
)
def test_percentile_is_within_one_percent_of_exact(values, q):
    estimate = percentile(histogram(values), q)
    exact = exact_percentile(values, q)
    assert abs(estimate - exact) <= 0.01 * exact


def test_merged_histograms_equal_histogram_of_all():
    rng = random.Random(4)
    a = [rng.lognormvariate(7, 1.5) for _ in range(1000)]
    b = [rng.lognormvariate(5, 1.0) for _ in range(1000)]
    merged = histogram(a) + histogram(b)
    assert merged == histogram(a + b)
    assert abs(percentile(merged, 50) - exact_percentile(a + b, 50)) <= 0.01 * exact_percentile(
        a + b, 50
    )


def test_zero_and_empty():
    assert percentile(histogram([]), 50) is None
    assert percentile(histogram([0, 0, 0.1]), 50) == 0.0
