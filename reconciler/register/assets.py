"""Assets as values: field parsing and validation, depreciation and book value.

The importer turns rows into `Asset`s through `parse_asset`; the store writes them; classify and `show`
read them back from the snapshot. Pure: no database here.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypeVar

from ..errors import RegisterError
from .schema import CATEGORIES, STATUSES

ACTIVE_STATUSES = ("ordered", "in_stock", "deployed", "in_repair", "lost")
T = TypeVar("T")
METHODS = ("straight_line", "declining_balance")
CENT = Decimal("0.01")

# Status words of common asset tools, normalised (lowercase, non-alphanumerics as "_").
STATUS_ALIASES = {
    "ready_to_deploy": "in_stock", "pending": "ordered", "on_order": "ordered", "in_use": "deployed",
    "active": "deployed", "archived": "retired", "out_for_repair": "in_repair", "broken": "in_repair",
    "repair": "in_repair", "lost_stolen": "lost", "stolen": "lost", "disposed_of": "disposed",
    "stock": "in_stock", "instock": "in_stock", "undeployable": "in_repair",
}
CATEGORY_ALIASES = {"licence": "software_licence", "license": "software_licence",
                    "software_license": "software_licence", "software": "software_licence"}
METHOD_ALIASES = {"straight": "straight_line", "linear": "straight_line", "sl": "straight_line",
                  "declining": "declining_balance", "db": "declining_balance",
                  "double_declining_balance": "declining_balance"}


@dataclass(frozen=True)
class Asset:
    asset_tag: str
    name: str | None = None
    category: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None
    assigned_to: str | None = None
    location: str | None = None
    status: str = "deployed"
    purchase_date: date | None = None
    purchase_cost: Decimal | None = None
    currency: str | None = None
    supplier: str | None = None
    warranty_end: date | None = None
    eol_date: date | None = None
    depreciation_method: str | None = None
    depreciation_years: Decimal | None = None
    salvage_value: Decimal | None = None
    hostname: str | None = None
    instance_id: str | None = None
    arn: str | None = None
    bucket: str | None = None
    mac: str | None = None
    uuid: str | None = None
    licence_product: str | None = None
    seats: int | None = None
    notes: str | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def as_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copies cost 0.3 ms an asset, 30 s for 100,000.
        row = {name: getattr(self, name) for name in ASSET_FIELDS}
        row["custom"] = dict(self.custom)
        return row


ASSET_FIELDS = tuple(f.name for f in fields(Asset))
TEXT_FIELDS = tuple(name for name in ASSET_FIELDS if name != "custom")
DATE_FIELDS = ("purchase_date", "warranty_end", "eol_date")
MONEY_FIELDS = ("purchase_cost", "salvage_value")


def asset_from_row(row: Mapping[str, Any]) -> Asset:
    """A database row (or any mapping with the asset's keys) -> Asset."""
    values: dict[str, Any] = {name: row.get(name) for name in ASSET_FIELDS}
    values["custom"] = dict(row.get("custom") or {})
    return Asset(**values)


def asset_from_tuple(row: Sequence[Any]) -> Asset:
    """A row selected in ASSET_FIELDS order, custom as JSON text -> Asset (whole-register reads)."""
    values = list(row)
    values[-1] = json_value(values[-1]) or {}
    return trusted(Asset, ASSET_FIELDS, values)


def link_from_tuple(row: Sequence[Any]) -> Link:
    """A row selected in LINK_FIELDS order, identity as JSON text -> Link (whole-register reads)."""
    values = list(row)
    values[5] = json_value(values[5])
    return trusted(Link, LINK_FIELDS, values)


def json_value(text: str | None) -> Any:
    """A JSON column read as text: most are '{}', which needs no parser."""
    if text is None:
        return None
    return {} if text == "{}" else json.loads(text)


def trusted(cls: type[T], names: Sequence[str], values: Iterable[Any]) -> T:
    """An instance of a frozen dataclass without running its __init__, for values already validated
    (parsed by parse_asset, or read back from the register). A frozen __init__ sets each field through
    object.__setattr__: for 100,000 assets of 29 fields that was a quarter of an import and half of
    the snapshot read. `names` must be all the fields."""
    instance = object.__new__(cls)
    instance.__dict__.update(zip(names, values))
    return instance


# --- parsing of text values (CSV cells, JSON strings) -------------------------------------------

NOT_WORD = re.compile(r"[^a-z0-9]+")
NOT_AMOUNT = re.compile(r"[^0-9.\-]")


@lru_cache(maxsize=1024)
def _word(value: str) -> str:
    # Cached: a column of statuses or categories repeats a handful of words over 100,000 rows.
    return NOT_WORD.sub("_", value.strip().lower()).strip("_")


def parse_date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value if not isinstance(value, datetime) else value.date()
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
    except ValueError:
        raise RegisterError(f"{name}: '{text}' is not a date (expected YYYY-MM-DD)") from None


def parse_money(value: Any, name: str) -> Decimal | None:
    if value in (None, ""):
        return None
    # Asset tools export "$1,299.00" or "1299.00 EUR"; keep digits, sign and the decimal point.
    text = NOT_AMOUNT.sub("", str(value)) if not isinstance(value, (int, float, Decimal)) else value
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        raise RegisterError(f"{name}: '{value}' is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise RegisterError(f"{name}: '{value}' must be a non-negative amount")
    return amount.quantize(CENT, ROUND_HALF_UP)


def parse_count(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RegisterError(f"{name}: '{value}' is not a whole number") from None
    if number != number.to_integral_value() or number < 0:
        raise RegisterError(f"{name}: '{value}' must be a non-negative whole number")
    return int(number)


def _choice(value: Any, name: str, allowed: tuple[str, ...], aliases: Mapping[str, str]) -> str | None:
    if value in (None, ""):
        return None
    word = _word(str(value))
    word = aliases.get(word, word)
    if word not in allowed:
        raise RegisterError(f"{name}: '{value}' is not one of {', '.join(allowed)}")
    return word


def add_months(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_asset(values: Mapping[str, Any], custom: Mapping[str, Any] | None = None) -> Asset:
    """Canonical field name -> raw value (text or typed) => a valid Asset, or RegisterError."""
    tag = _text(values.get("asset_tag"))
    if not tag:
        raise RegisterError("asset_tag is empty")
    parsed: dict[str, Any] = dict.fromkeys(TEXT_FIELDS)
    for key, value in values.items():  # the columns present, not all 28 fields
        if key in parsed:
            parsed[key] = _text(value)
    parsed["asset_tag"] = tag
    for name in DATE_FIELDS:
        parsed[name] = parse_date(values.get(name), name)
    for name in MONEY_FIELDS:
        parsed[name] = parse_money(values.get(name), name)
    parsed["seats"] = parse_count(values.get("seats"), "seats")
    years = parse_money(values.get("depreciation_years"), "depreciation_years")
    parsed["depreciation_years"] = years
    parsed["status"] = _choice(values.get("status"), "status", STATUSES, STATUS_ALIASES) or "deployed"
    parsed["category"] = _choice(values.get("category"), "category", CATEGORIES, CATEGORY_ALIASES)
    parsed["depreciation_method"] = _choice(values.get("depreciation_method"), "depreciation_method",
                                            METHODS, METHOD_ALIASES)
    parsed["currency"] = parsed["currency"].upper() if parsed["currency"] else None
    _warranty_from_months(parsed, values.get("warranty_months"))
    _check_depreciation(parsed)
    parsed["custom"] = {k: v for k, v in (custom or {}).items() if v not in (None, "")}
    return trusted(Asset, ASSET_FIELDS, map(parsed.__getitem__, ASSET_FIELDS))


def _warranty_from_months(parsed: dict[str, Any], months: Any) -> None:
    count = parse_count(months, "warranty_months")
    if count is None or parsed["warranty_end"] is not None:
        return
    if parsed["purchase_date"] is None:
        raise RegisterError("warranty_months needs a purchase_date")
    parsed["warranty_end"] = add_months(parsed["purchase_date"], count)


def _check_depreciation(parsed: dict[str, Any]) -> None:
    if parsed["depreciation_method"] is None:
        return
    if not parsed["depreciation_years"] or parsed["depreciation_years"] <= 0:
        raise RegisterError("depreciation needs depreciation_years > 0")
    cost, salvage = parsed["purchase_cost"], parsed["salvage_value"]
    if cost is not None and salvage is not None and salvage > cost:
        raise RegisterError("salvage_value is greater than purchase_cost")


# --- money over time ---------------------------------------------------------------------------

def book_value(asset: Asset, on: date) -> Decimal | None:
    """Value of the asset on a date.

    straight_line: cost - (cost - salvage) * elapsed / life, never below salvage.
    declining_balance: double-declining, cost * (1 - 2/life) ** elapsed years, never below salvage.
    Elapsed time is counted in days (365.25 a year), so the value moves daily. Without a method the
    value is the cost; without a cost or purchase date there is no value.
    """
    cost, start = asset.purchase_cost, asset.purchase_date
    if cost is None or start is None:
        return None
    if asset.depreciation_method is None or not asset.depreciation_years or on <= start:
        return cost
    salvage = asset.salvage_value or Decimal(0)
    years = Decimal((on - start).days) / Decimal("365.25")
    life = Decimal(asset.depreciation_years)
    if asset.depreciation_method == "straight_line":
        value = cost - (cost - salvage) * min(years / life, Decimal(1))
    else:
        rate = min(Decimal(2) / life, Decimal(1))
        value = cost * Decimal(float(1 - rate) ** float(years)) if rate < 1 else salvage
    return max(value, salvage).quantize(CENT, ROUND_HALF_UP)


# --- what classify reads of the register ----------------------------------------------------------

@dataclass(frozen=True)
class Link:
    """An asset joined to a CI and/or an observed resource, and how."""

    asset_tag: str
    matched_by: str
    ci: str | None = None
    kind: str | None = None
    resource: str | None = None
    identity: Mapping[str, Any] = field(default_factory=dict)
    matched_value: str | None = None
    since: datetime | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Sighting:
    """When and where an asset's resource was last observed, from earlier runs."""

    last_seen: datetime
    sources: tuple[str, ...]


@dataclass(frozen=True)
class RegisterSnapshot:
    """The register as classify needs it, read once at the start of a run."""

    assets: Mapping[str, Asset]
    links: Mapping[str, Link] = field(default_factory=dict)
    sightings: Mapping[str, Sighting] = field(default_factory=dict)  # by asset tag


LINK_FIELDS = tuple(f.name for f in fields(Link))
