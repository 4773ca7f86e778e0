"""Queries and updates on the teamgate database.

Every function runs inside the caller's session and flushes but never
commits, so the caller decides the transaction, for example with
`async with sessions.begin() as session:`. All values are bound parameters.
"""

from teamgate.storage.repository.common import AlreadyExists, Limits, RecordNotFound
from teamgate.storage.repository.credits import (
    CreditForecast,
    create_credit_account,
    credit_forecast,
    list_credit_accounts,
)
from teamgate.storage.repository.end_users import (
    get_end_user,
    get_or_create_end_user,
    list_end_users,
)
from teamgate.storage.repository.keys import (
    KEY_PREFIX,
    KeyInfo,
    KeyLookup,
    KeyState,
    create_key,
    find_key,
    hash_key,
    list_keys,
    revoke_key,
    set_key_enabled,
    touch_key_last_used,
    update_key,
)
from teamgate.storage.repository.ledger import (
    Subject,
    SummaryBy,
    UsageEntry,
    UsageSummaryRow,
    insert_usage_records,
    spend_since,
    usage_summary,
)
from teamgate.storage.repository.users import (
    create_group,
    create_user,
    delete_group,
    disable_user,
    ensure_default_group,
    get_group,
    get_group_by_name,
    get_user,
    get_user_by_name,
    hash_password,
    list_groups,
    list_users,
    set_password,
    update_group,
    update_user,
    verify_password,
)

__all__ = [
    "KEY_PREFIX",
    "AlreadyExists",
    "CreditForecast",
    "KeyInfo",
    "KeyLookup",
    "KeyState",
    "Limits",
    "RecordNotFound",
    "Subject",
    "SummaryBy",
    "UsageEntry",
    "UsageSummaryRow",
    "create_credit_account",
    "create_group",
    "create_key",
    "create_user",
    "credit_forecast",
    "delete_group",
    "disable_user",
    "ensure_default_group",
    "find_key",
    "get_end_user",
    "get_group",
    "get_group_by_name",
    "get_or_create_end_user",
    "get_user",
    "get_user_by_name",
    "hash_key",
    "hash_password",
    "insert_usage_records",
    "list_credit_accounts",
    "list_end_users",
    "list_groups",
    "list_keys",
    "list_users",
    "revoke_key",
    "set_key_enabled",
    "set_password",
    "spend_since",
    "touch_key_last_used",
    "update_group",
    "update_key",
    "update_user",
    "usage_summary",
    "verify_password",
]
