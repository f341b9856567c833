"""The `make dev` console's lines, and how `make invoke` reads a function's answer."""

from __future__ import annotations

import logging

import pytest

from devstack.console import Console
from devstack.invoke import outcome


def test_a_request_is_one_line_coloured_by_status_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    Console(json_logs=False, colour=True).request("POST", "/payments", 502, 81.4, "CreatePaymentFunction")
    Console(json_logs=False, colour=False).request("POST", "/payments", 201, 80.0, "CreatePaymentFunction")
    coloured, plain = capsys.readouterr().out.splitlines()
    assert "\033[31m502\033[0m" in coloured  # a 5xx in red
    assert plain.endswith("POST /payments -> 201 (80 ms) CreatePaymentFunction")
    assert "\033[" not in plain


def test_a_card_number_in_a_path_is_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(json_logs=False, colour=False)
    console.request("GET", "/payments/4242424242424242", 404, 3.0, "GetPaymentsFunction")
    console.request("GET", "/payments/4242/4242/4242/4242", 404, 3.0, "-")
    lines = capsys.readouterr().out
    assert "4242" not in lines
    assert "GET /payments/################ -> 404" in lines


def test_an_email_body_is_folded_onto_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    Console(colour=False).email("ada@example.com", "Receipt", "Line one.\n\nLine two.")
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith("[email] to ada@example.com: Receipt — Line one. | Line two.")


def test_handler_info_lines_are_dropped_and_a_warning_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("test-console-service")
    logger.propagate = False
    logger.addHandler(logging.StreamHandler())
    Console(json_logs=False, colour=False).quiet_handler_logs(logger)
    logger.info("request rejected")
    logger.warning("webhook for an unknown payment", extra={"error_code": "x"})
    out = capsys.readouterr()
    assert "request rejected" not in out.out + out.err
    (line,) = out.out.splitlines()
    assert line.endswith("[warn] -: webhook for an unknown payment (x)")


def test_json_mode_leaves_handler_lines_alone(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("test-console-json")
    logger.propagate = False
    Console(json_logs=True, colour=False).quiet_handler_logs(logger)
    assert logger.filters == []


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ({"statusCode": 201, "body": "{}"}, 0),
        ({"statusCode": 404, "body": "{}"}, 0),
        ({"statusCode": 500, "body": "{}"}, 1),
        ({"statusCode": 503, "body": "{}"}, 1),
        ({"batchItemFailures": []}, 0),
        ({"batchItemFailures": [{"itemIdentifier": "1"}]}, 1),
    ],
)
def test_make_invoke_fails_on_a_5xx_or_a_failed_record(result: dict[str, object], status: int) -> None:
    assert outcome(result)[0] == status
