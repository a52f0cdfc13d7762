"""Import and export of the register: CSV and JSON, all or nothing, with a dry-run plan.

`plan_import` reads a file into Assets (every row validated first; any bad row -> ImportFailed listing
each one with its line number), compares them with the register and returns creates / updates /
unchanged. `apply_import` writes a plan in one transaction. Column names are matched case-insensitively
and the common spellings of asset tools are accepted ("Asset Tag", "Serial", "Purchase Cost", ...);
unknown columns become custom fields. `export_assets` writes what import reads, losslessly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from ..errors import RegisterError
from .assets import ASSET_FIELDS, Asset, parse_asset
from .store import Register

ALIASES: dict[str, tuple[str, ...]] = {
    "asset_tag": ("asset_tag", "tag", "asset_tag_number", "asset_number", "asset_no", "asset_id",
                  "inventory_number", "inventory_tag"),
    "name": ("name", "asset_name", "display_name", "item_name"),
    "category": ("category", "asset_category", "type", "asset_type"),
    "serial": ("serial", "serial_number", "serial_no", "serialnumber", "sn", "service_tag"),
    "manufacturer": ("manufacturer", "make", "brand"),
    "model": ("model", "model_name"),
    "owner": ("owner", "team", "owning_team", "department", "owner_team"),
    "assigned_to": ("assigned_to", "checked_out_to", "assignee", "assigned_user", "user", "used_by"),
    "location": ("location", "site", "default_location"),
    "status": ("status", "status_label", "state", "lifecycle_status", "asset_status"),
    "purchase_date": ("purchase_date", "purchased", "purchased_on", "acquisition_date", "date_purchased"),
    "purchase_cost": ("purchase_cost", "cost", "price", "purchase_price", "unit_cost", "unit_price"),
    "currency": ("currency", "purchase_currency"),
    "supplier": ("supplier", "vendor", "reseller"),
    "warranty_end": ("warranty_end", "warranty_expires", "warranty_expiration", "warranty_expiration_date",
                     "warranty_end_date", "warranty_until"),
    "warranty_months": ("warranty_months", "warranty", "warranty_months_", "warranty_period_months"),
    "eol_date": ("eol_date", "eol", "end_of_life", "end_of_life_date"),
    "depreciation_method": ("depreciation_method", "depreciation"),
    "depreciation_years": ("depreciation_years", "life_years", "useful_life", "useful_life_years",
                           "depreciation_life"),
    "salvage_value": ("salvage_value", "salvage", "residual_value", "scrap_value"),
    "hostname": ("hostname", "host_name", "fqdn", "dns_name", "computer_name", "host"),
    "instance_id": ("instance_id", "ec2_instance_id", "aws_instance_id"),
    "arn": ("arn", "aws_arn", "resource_arn"),
    "bucket": ("bucket", "bucket_name", "s3_bucket"),
    "mac": ("mac", "mac_address"),
    "uuid": ("uuid", "system_uuid", "bios_uuid", "hardware_uuid"),
    "licence_product": ("licence_product", "license_product", "licensed_product", "product"),
    "seats": ("seats", "licence_seats", "license_seats", "total_seats"),
    "notes": ("notes", "note", "comments", "comment"),
}
COLUMN_OF = {spelling: canonical for canonical, spellings in ALIASES.items() for spelling in spellings}
EXPORT_FIELDS = tuple(name for name in ASSET_FIELDS if name != "custom")


class ImportFailed(RegisterError):
    """Some rows are bad; nothing was written. `problems` holds 'line N: message' for each."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{path}: {problems[0]}{more}; nothing was imported")


@dataclass
class ImportPlan:
    creates: list[Asset] = field(default_factory=list)
    updates: list[tuple[Asset, Asset]] = field(default_factory=list)  # (before, after)
    unchanged: list[Asset] = field(default_factory=list)


def column_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def map_columns(headers: Sequence[str]) -> dict[str, str]:
    """Header as written -> canonical field, or 'custom:<header>'. Two columns for one field is an error."""
    mapping: dict[str, str] = {}
    taken: dict[str, str] = {}
    for header in headers:
        if header.strip().lower().startswith("custom:"):
            mapping[header] = f"custom:{header.strip()[7:]}"
            continue
        canonical = COLUMN_OF.get(column_key(header))
        if canonical is None:
            mapping[header] = f"custom:{header.strip()}"
            continue
        if canonical in taken:
            raise RegisterError(f"columns '{taken[canonical]}' and '{header}' both mean {canonical}")
        taken[canonical] = header
        mapping[header] = canonical
    if "asset_tag" not in taken:
        raise RegisterError("no asset tag column (expected one of: Asset Tag, asset_tag, Tag, ...)")
    return mapping


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as {field: cell}, read as csv.DictReader would (empty lines skipped, missing cells None,
    extra cells dropped, the last of two equal headers wins) but from positions worked out once."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = next(reader, None) or []
        mapping = map_columns(headers)
        columns = [(mapping[header], i) for header, i in {h: i for i, h in enumerate(headers)}.items()]
        start = 2
        for row in reader:
            if not row:
                continue
            cells = [(field, _unescape(row[i]) if i < len(row) else None) for field, i in columns]
            if any(cell and cell.strip() for _field, cell in cells):
                yield start, dict(cells)
            start = reader.line_num + 1
    except csv.Error as error:  # e.g. a cell over csv.field_size_limit() (128 KiB)
        raise RegisterError(f"line {reader.line_num}: {error}") from None


def _json_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RegisterError(f"not valid JSON: {error}") from None
    except RecursionError:
        raise RegisterError("not usable JSON: nested too deeply") from None
    records = data.get("assets") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise RegisterError("expected a JSON list of assets (or {\"assets\": [...]})")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise RegisterError(f"record {number}: expected an object")
        custom = record.get("custom")
        custom = custom if isinstance(custom, dict) else {}
        mapping = map_columns([k for k in record if k != "custom"])
        values = {mapping[k]: v for k, v in record.items() if k != "custom"}
        values.update({f"custom:{k}": v for k, v in custom.items()})
        yield number, values


def read_assets(path: Path, fmt: str | None = None) -> list[Asset]:
    """Every row parsed and validated; all problems reported together, with their line numbers."""
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's CSV starts with a BOM
    except (OSError, UnicodeDecodeError) as error:
        raise RegisterError(f"cannot read {path}: {error}") from None
    where = "line" if fmt == "csv" else "record"
    records = _csv_records(text) if fmt == "csv" else _json_records(text)
    assets: list[Asset] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    try:
        for number, values in records:
            _parse_record(number, values, where, assets, problems, first_line)
    except RegisterError as error:
        raise RegisterError(f"{path}: {error}") from None
    if problems:
        raise ImportFailed(str(path), problems)
    return assets


def _parse_record(number: int, values: dict[str, Any], where: str, assets: list[Asset],
                  problems: list[str], first_line: dict[str, int]) -> None:
    fields, custom = {}, {}
    for key, value in values.items():
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL cannot store it; nobody means it
            problems.append(f"{where} {number}: {key.removeprefix('custom:')}: contains a NUL character")
            return
        if key.startswith("custom:"):
            custom[key[7:]] = value
        else:
            fields[key] = value
    try:
        asset = parse_asset(fields, custom)
    except RegisterError as error:
        problems.append(f"{where} {number}: {error}")
        return
    if asset.asset_tag in first_line:
        problems.append(f"{where} {number}: duplicate asset tag '{asset.asset_tag}' "
                        f"(first on {where} {first_line[asset.asset_tag]})")
        return
    first_line[asset.asset_tag] = number
    assets.append(asset)


def plan_import(register: Register, incoming: Sequence[Asset], match_on: str = "asset_tag") -> ImportPlan:
    """Compare incoming assets with the register: what would be created, updated, left as it is."""
    existing = register.assets()
    plan = ImportPlan()
    if match_on == "serial":
        return _plan_by_serial(existing, incoming, plan)
    by_tag = {asset.asset_tag: asset for asset in existing}
    for asset in incoming:
        _sort_into(plan, by_tag.get(asset.asset_tag), asset)
    return plan


def _plan_by_serial(existing: Sequence[Asset], incoming: Sequence[Asset], plan: ImportPlan) -> ImportPlan:
    by_serial: dict[str, Asset] = {}
    for asset in existing:
        if asset.serial:
            by_serial.setdefault(asset.serial.upper(), asset)
    problems = [f"asset '{a.asset_tag}' has no serial to match on" for a in incoming if not a.serial]
    if problems:
        raise ImportFailed("--match-on serial", problems)
    for asset in incoming:
        before = by_serial.get(str(asset.serial).upper())
        # Matched by serial, the register's tag stays: the tag is what other records point at.
        _sort_into(plan, before, asset if before is None else _with_tag(asset, before.asset_tag))
    return plan


def _with_tag(asset: Asset, tag: str) -> Asset:
    return Asset(**{**asset.as_row(), "asset_tag": tag})


def _sort_into(plan: ImportPlan, before: Asset | None, after: Asset) -> None:
    if before is None:
        plan.creates.append(after)
    elif before == after:
        plan.unchanged.append(after)
    else:
        plan.updates.append((before, after))


def apply_import(register: Register, plan: ImportPlan) -> None:
    register.write_assets(plan.creates, [after for _before, after in plan.updates])


def changed_fields(before: Asset, after: Asset) -> list[str]:
    old, new = before.as_row(), after.as_row()
    return [name for name in ASSET_FIELDS if old[name] != new[name]]


# --- export -------------------------------------------------------------------------------------

# A cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP): exported with
# a leading apostrophe, which import removes again. A value starting with an apostrophe gets one more, so
# every value round-trips.
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, Decimal)):
        text = str(value)
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _unescape(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1:].startswith(_FORMULA) else cell


def export_assets(assets: Sequence[Asset], out: TextIO, fmt: str = "csv") -> None:
    """CSV (custom fields as extra columns) or JSON (custom fields under "custom")."""
    if fmt == "json":
        records = [{**{k: _json_value(v) for k, v in a.as_row().items() if k != "custom"},
                    "custom": dict(a.custom)} for a in assets]
        json.dump(records, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    extra = sorted({key for asset in assets for key in asset.custom})
    writer = csv.writer(out, lineterminator="\n")
    # A custom key that reads like a known column is written "custom:<key>" so it comes back as custom.
    writer.writerow([*EXPORT_FIELDS, *(f"custom:{k}" if column_key(k) in COLUMN_OF else k for k in extra)])
    for asset in assets:
        row = asset.as_row()
        writer.writerow([_cell(row[k]) for k in EXPORT_FIELDS] + [_cell(asset.custom.get(k)) for k in extra])


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, (date, Decimal)) else value
