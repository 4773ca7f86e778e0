"""Values that the command line and the admin API both accept: USD amounts and email addresses.

Money is stored as integer micro-USD (1 USD = 1_000_000) and travels as a USD
decimal string such as `12.50`, so no amount ever passes through a float.
The checks raise ValueError with a message that names the field.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICRO_USD_PER_USD = 1_000_000
MIN_PASSWORD_LENGTH = 8


def parse_usd(text: str, name: str) -> int:
    """Convert a USD decimal string such as `12.50` to integer micro-USD, without floats."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"invalid amount {text!r} for {name}; write USD as 12.50") from None
    if not amount.is_finite():
        raise ValueError(f"invalid amount {text!r} for {name}; write USD as 12.50")
    if amount < 0:
        raise ValueError(f"negative amount {text!r} for {name}; give zero or more USD")
    micro = amount * MICRO_USD_PER_USD
    if micro != micro.to_integral_value():
        raise ValueError(
            f"amount {text!r} for {name} has more than 6 decimal places; round it to 0.000001"
        )
    return int(micro)


def usd(micro_usd: int) -> Decimal:
    return Decimal(micro_usd) / MICRO_USD_PER_USD


def format_usd(micro_usd: int) -> str:
    """Format micro-USD with six decimal places, the ledger's precision."""
    return f"{usd(micro_usd):.6f}"


def format_usd_cents(micro_usd: int) -> str:
    """Format micro-USD with two decimal places, or more when the amount has smaller parts."""
    amount = usd(micro_usd).normalize()
    return f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:f}"


def check_email(text: str, name: str) -> str:
    """Return the address without surrounding spaces; raise ValueError unless it looks like one."""
    email = text.strip()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(char.isspace() for char in email):
        raise ValueError(f"invalid {name} {text!r}; write it as name@example.com")
    return email
