"""Email to a user's account address, sent with SES: receipts (``notifications``) and one-time codes
(``payments.otp``). Apart from receipts, so that a function sending only codes loads no bus events."""

from __future__ import annotations

from payments_core.auth.repository import AccountRepository, AccountStore
from payments_core.aws import client


def send_email(
    *, table_name: str, sender: str, user_id: str, subject: str, body: str, accounts: AccountStore | None = None
) -> bool:
    """Emails a user at their account address (``accounts``: by default the repository on
    ``table_name``); False if the account does not exist."""
    to = (accounts or AccountRepository(table_name)).email_of(user_id)
    if to is None:
        return False
    client("ses").send_email(
        Source=sender,
        Destination={"ToAddresses": [to]},
        # SES takes text without a character set as 7-bit ASCII; a description or an amount's sign (€) is not
        Message={
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
        },
    )
    return True
