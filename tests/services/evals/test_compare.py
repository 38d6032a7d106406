def test_a_p_value_that_underflows_is_not_printed_as_zero() -> None:
    from services.evals.stats_math import p_eq, p_text

    assert p_text(0.0) == "< 1e-15" and p_eq(0.0) == "< 1e-15"
    assert p_eq(0.0123) == "= 0.0123" and p_eq(6.56e-12) == "= 6.56e-12"
