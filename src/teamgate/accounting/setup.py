"""Open the account service for a configuration: database, migrations, counters and prices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from teamgate.accounting.admission import Budget
from teamgate.accounting.counters import Counters, MemoryCounters
from teamgate.accounting.prices import BUILTIN_PRICES, apply_price_overrides
from teamgate.accounting.service import CONFIG_SUBJECT, AccountService
from teamgate.config.schema import Accounting
from teamgate.storage import create_engine, default_url, session_factory
from teamgate.storage.migrate import upgrade_engine


@dataclass
class OpenAccounts:
    """The account service and what must be closed with it."""

    service: AccountService
    engine: AsyncEngine
    counters: Counters

    async def close(self) -> None:
        await self.service.close()
        await self.counters.close()
        await self.engine.dispose()


def database_url(settings: Accounting, data_dir: Path) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return default_url(data_dir)


def _config_budget(settings: Accounting) -> Budget | None:
    if settings.admin_budget_usd is None:
        return None
    micros = int((Decimal(str(settings.admin_budget_usd)) * 1_000_000).to_integral_value())
    return Budget(CONFIG_SUBJECT, micros, settings.admin_budget_period)


async def open_accounts(settings: Accounting, data_dir: Path) -> OpenAccounts:
    """Migrate the database to the newest schema and start the account service."""
    engine = create_engine(database_url(settings, data_dir))
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    counters: Counters = MemoryCounters()
    if settings.redis_url is not None:
        from teamgate.accounting.redis_counters import RedisCounters

        counters = RedisCounters(settings.redis_url.get_secret_value())
    service = AccountService(
        sessions=session_factory(engine),
        counters=counters,
        prices=apply_price_overrides(BUILTIN_PRICES, settings.prices),
        timezone=settings.timezone,
        default_max_output_tokens=settings.default_max_output_tokens,
        cny_per_usd=Decimal(str(settings.cny_per_usd)) if settings.cny_per_usd else None,
        config_budget=_config_budget(settings),
    )
    await service.start()
    return OpenAccounts(service, engine, counters)
