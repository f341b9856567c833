"""Settings come from the environment; a bad value stops the function's init, naming the variable."""

from __future__ import annotations

import pytest

from payments_core.config import BOUNDS, Settings


def test_unset_variables_take_the_defaults() -> None:
    settings = Settings.from_environ({})

    assert settings.jwt_ttl_seconds == 900
    assert settings.otp_threshold_amount == 50_000
    assert settings.aws_read_timeout_seconds == 5.0
    assert settings.stripe_api_base is None


def test_variables_are_read_by_their_names_in_capitals_and_typed() -> None:
    settings = Settings.from_environ(
        {
            "TABLE_NAME": "Payments",
            "JWT_TTL_SECONDS": "600",
            "OTP_THRESHOLD_AMOUNT": " 100 ",
            "AWS_READ_TIMEOUT_SECONDS": "2.5",
            "STRIPE_API_BASE": "http://localhost:8420",
            "UNRELATED": "ignored",
        }
    )

    assert settings.table_name == "Payments"
    assert settings.jwt_ttl_seconds == 600
    assert settings.otp_threshold_amount == 100
    assert settings.aws_read_timeout_seconds == 2.5
    assert settings.stripe_api_base == "http://localhost:8420"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JWT_TTL_SECONDS", "59", "JWT_TTL_SECONDS must be >= 60 and <= 3600"),
        ("JWT_TTL_SECONDS", "3601", "JWT_TTL_SECONDS must be >= 60 and <= 3600"),
        ("JWT_TTL_SECONDS", "15m", "JWT_TTL_SECONDS must be an integer"),
        ("OTP_THRESHOLD_AMOUNT", "0", "OTP_THRESHOLD_AMOUNT must be >= 1"),
        ("OTP_THRESHOLD_AMOUNT", "10.5", "OTP_THRESHOLD_AMOUNT must be an integer"),
        ("AWS_READ_TIMEOUT_SECONDS", "0", "AWS_READ_TIMEOUT_SECONDS must be > 0 and <= 60"),
        ("AWS_READ_TIMEOUT_SECONDS", "61", "AWS_READ_TIMEOUT_SECONDS must be > 0 and <= 60"),
        ("AWS_READ_TIMEOUT_SECONDS", "soon", "AWS_READ_TIMEOUT_SECONDS must be a number"),
        ("AWS_READ_TIMEOUT_SECONDS", "nan", "AWS_READ_TIMEOUT_SECONDS must be > 0 and <= 60"),
        ("AWS_READ_TIMEOUT_SECONDS", "inf", "AWS_READ_TIMEOUT_SECONDS must be > 0 and <= 60"),
    ],
)
def test_a_value_out_of_bounds_or_of_the_wrong_type_is_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        Settings.from_environ({name: value})


def test_settings_cannot_be_changed_once_read() -> None:
    settings = Settings.from_environ({})

    with pytest.raises(AttributeError):
        settings.table_name = "Other"  # type: ignore[misc]


def test_every_numeric_setting_is_bounded() -> None:
    # Given the settings whose defaults are numbers
    numeric = {name for name, default in Settings._field_defaults.items() if isinstance(default, int | float)}

    # Then each has bounds (a setting left out of BOUNDS would be read as text)
    assert numeric == set(BOUNDS)
    assert isinstance(Settings.from_environ({"RECONCILE_MIN_AGE_SECONDS": "30"}).reconcile_min_age_seconds, int)
    with pytest.raises(ValueError, match=r"^RECONCILE_MIN_AGE_SECONDS must be >= 0 and <= 86400$"):
        Settings.from_environ({"RECONCILE_MIN_AGE_SECONDS": "-1"})
