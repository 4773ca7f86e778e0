"""Create groups, users, API keys, end users, the usage ledger and credit accounts.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERIODS = "budget_period IN ('daily', 'weekly', 'monthly', 'total')"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _limit_columns() -> list[sa.Column[int] | sa.Column[str]]:
    return [
        sa.Column("budget_micro_usd", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(8), server_default="monthly", nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("rpd", sa.Integer(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
    ]


def _period_check(table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(PERIODS, name=op.f(f"ck_{table}_budget_period_valid"))


def upgrade() -> None:
    _create_groups()
    _create_users()
    _create_api_keys()
    _create_end_users()
    _create_usage_records()
    _create_credit_accounts()


def _create_groups() -> None:
    groups = op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("price_multiplier", sa.Numeric(10, 4), server_default="1", nullable=False),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        *_limit_columns(),
        _period_check("groups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_groups_name")),
    )
    op.bulk_insert(groups, [{"name": "default", "created_at": datetime.now(UTC)}])


def _create_users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        *_limit_columns(),
        _period_check("users"),
        sa.CheckConstraint("role IN ('admin', 'member')", name=op.f("ck_users_role_valid")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_users_status_valid")),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_users_group_id_groups")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_index(op.f("ix_users_group_id"), "users", ["group_id"])


def _create_api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trusted_app", sa.Boolean(), nullable=False),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        _timestamp("expires_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        _timestamp("created_at"),
        *_limit_columns(),
        _period_check("api_keys"),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'revoked')", name=op.f("ck_api_keys_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_api_keys_owner_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_owner_user_id"), "api_keys", ["owner_user_id"])


def _create_end_users() -> None:
    op.create_table(
        "end_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_owner_user_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("role", sa.String(64), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _timestamp("created_at"),
        *_limit_columns(),
        _period_check("end_users"),
        sa.CheckConstraint(
            "status IN ('active', 'disabled')", name=op.f("ck_end_users_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["app_owner_user_id"], ["users.id"], name=op.f("fk_end_users_app_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_end_users_group_id_groups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_end_users")),
        sa.UniqueConstraint(
            "app_owner_user_id", "external_id", name=op.f("uq_end_users_owner_external_id")
        ),
    )
    op.create_index(op.f("ix_end_users_group_id"), "end_users", ["group_id"])


def _create_usage_records() -> None:
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(128), nullable=False),
        _timestamp("created_at"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("end_user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("public_model", sa.String(128), nullable=False),
        sa.Column("upstream_model", sa.String(128), nullable=True),
        sa.Column("credential_id", sa.String(128), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("tool_use_prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("time_to_first_token_ms", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(64), nullable=True),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_usage_records")),
    )
    op.create_index("ix_usage_records_created_at", "usage_records", ["created_at"])
    for column in (
        "user_id",
        "api_key_id",
        "end_user_id",
        "group_id",
        "public_model",
        "credential_id",
    ):
        op.create_index(
            f"ix_usage_records_{column}_created_at", "usage_records", [column, "created_at"]
        )


def _create_credit_accounts() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("credit_micro_usd", sa.BigInteger(), nullable=False),
        _timestamp("starts_at"),
        _timestamp("expires_at", nullable=True),
        sa.Column("credential_ids", sa.JSON(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_credit_accounts_name")),
    )


def downgrade() -> None:
    for table in ("credit_accounts", "usage_records", "end_users", "api_keys", "users", "groups"):
        op.drop_table(table)
