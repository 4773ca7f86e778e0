"""`teamgate user import`: create users from a CSV file, reporting each row's result."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from teamgate.commands.common import (
    CommandError,
    ConfigOption,
    DatabaseUrlOption,
    Sessions,
    open_storage,
    reports_errors,
    run,
)
from teamgate.commands.parsing import parse_limits
from teamgate.commands.users import NewUser, add_user, check_name, parse_email, parse_role
from teamgate.storage.repository import AlreadyExists

COLUMNS = ("name", "email", "role", "group", "budget_usd", "period")
# A row's outcome: its line number in the file and an error message, or None when it succeeded.
RowResult = tuple[int, str, str | None]


@reports_errors
def user_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help=f"CSV file with a header row; columns: {','.join(COLUMNS)} (only name required).",
            dir_okay=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report, but create nothing.")
    ] = False,
    config: ConfigOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create one user per CSV row; a row that fails is reported and the others go on."""
    storage = open_storage(config, database_url)
    rows = _read_rows(file)

    async def import_all(sessions: Sessions) -> list[RowResult]:
        if dry_run:
            return await _check_rows(sessions, rows)
        return [await _import_row(sessions, line, row) for line, row in rows]

    results = run(storage, import_all)
    failed = _report(results, dry_run)
    if failed:
        raise typer.Exit(code=1)


def _read_rows(file: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            _check_header(file, header)
            reader.fieldnames = header
            return [(reader.line_num, row) for row in reader]
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CommandError(f"{file} is not a valid UTF-8 CSV file: {exc}") from None


def _check_header(file: Path, header: list[str]) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or "name" not in header:
        raise CommandError(
            f"{file} has the header {','.join(header) or '(empty)'}; "
            f"use the columns {','.join(COLUMNS)} (only name is required)"
        )


def _new_user(row: dict[str, str]) -> NewUser:
    def value(column: str) -> str | None:
        text = (row.get(column) or "").strip()
        return text or None

    return NewUser(
        name=check_name(value("name") or ""),
        email=parse_email(value("email"), "email"),
        role=parse_role(value("role") or "member", "role"),
        group=value("group"),
        limits=parse_limits(value("budget_usd"), value("period")),
    )


async def _import_row(sessions: Sessions, line: int, row: dict[str, str]) -> RowResult:
    try:
        new = _new_user(row)
        async with sessions.begin() as session:
            await add_user(session, new)
    except (CommandError, AlreadyExists) as exc:
        return line, (row.get("name") or ""), str(exc)
    except IntegrityError as exc:
        return line, (row.get("name") or ""), f"the database rejected the row: {exc.orig}"
    return line, new.name, None


async def _check_rows(
    sessions: Sessions, rows: list[tuple[int, dict[str, str]]]
) -> list[RowResult]:
    """Create the rows in one transaction and roll it back, so later rows see earlier ones.

    NOTE: a row that the database itself rejects (IntegrityError) ends the
    check, because the transaction cannot go on. The checks in `add_user`
    catch the known conflicts (name, email, group) before that.
    """
    results: list[RowResult] = []
    async with sessions() as session:
        for line, row in rows:
            results.append(await _check_row(session, line, row))
        await session.rollback()
    return results


async def _check_row(session: AsyncSession, line: int, row: dict[str, str]) -> RowResult:
    try:
        new = _new_user(row)
        await add_user(session, new)
    except (CommandError, AlreadyExists) as exc:
        return line, (row.get("name") or ""), str(exc)
    return line, new.name, None


def _report(results: list[RowResult], dry_run: bool) -> int:
    verb = "would create" if dry_run else "created"
    for line, name, error in results:
        if error is None:
            typer.echo(f"line {line}: {verb} user {name}")
        else:
            typer.echo(f"line {line}: failed: {error}")
    failed = sum(1 for _, _, error in results if error is not None)
    summary = f"{len(results) - failed} rows {'valid' if dry_run else 'imported'}, {failed} failed"
    typer.echo(summary + (" (dry run: nothing was written)" if dry_run else ""))
    return failed
