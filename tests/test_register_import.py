"""Import / export of the register, and the money: what an asset manager does with files."""

from __future__ import annotations

import io
import json
import time
from argparse import Namespace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.register.assets import book_value, parse_asset
from reconciler.register.commands import register_export, register_import, register_list
from reconciler.register.store import open_register

from .pg_fixture import pg_cluster, register_dsn  # noqa: F401  (fixtures)

SNIPE_LIKE = """Asset Tag,Asset Name,Serial,Model,Manufacturer,Status,Purchase Date,Purchase Cost,Warranty Months,Location,Checked Out To,Rack Unit
ASSET-1,web one,SN-1,R650,Dell,Deployed,2024-01-15,"$4,200.00",36,DC1,alice,U12
ASSET-2,db one,SN-2,R750,Dell,Ready to Deploy,2023-03-01,7000,24,DC1,,U14
"""


def do_import(reg, path: Path, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = Namespace(file=str(path), match_on=options.get("match_on"), dry_run=options.get("dry_run", False),
                     format=None)
    return register_import(args, reg, out, err), out.getvalue(), err.getvalue()


def test_an_asset_tool_export_imports_without_editing(tmp_path):
    reg = open_register(None, tmp_path)
    (tmp_path / "a.csv").write_text(SNIPE_LIKE)
    code, out, _ = do_import(reg, tmp_path / "a.csv")
    first = reg.asset("ASSET-1")
    assert code == 0 and "created 2" in out
    assert (first.serial, first.purchase_cost, first.warranty_end, first.assigned_to, first.status) == \
        ("SN-1", Decimal("4200.00"), date(2027, 1, 15), "alice", "deployed")
    assert reg.asset("ASSET-2").status == "in_stock" and first.custom == {"Rack Unit": "U12"}


def test_dry_run_shows_creates_updates_unchanged_and_writes_nothing(tmp_path):
    reg = open_register(None, tmp_path)
    (tmp_path / "a.csv").write_text(SNIPE_LIKE)
    do_import(reg, tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text(SNIPE_LIKE.replace("DC1,alice", "DC2,alice") + "ASSET-3,x,SN-3,,,,,,,,,\n")
    code, out, _ = do_import(reg, tmp_path / "b.csv", dry_run=True)
    assert code == 0
    assert "create    ASSET-3" in out and "update    ASSET-1: location" in out
    assert "would create 1, would update 1, unchanged 1" in out
    assert reg.asset("ASSET-3") is None and reg.asset("ASSET-1").location == "DC1"


@pytest.mark.parametrize("bad_row, message", [
    ("ASSET-9,x,SN-9,,,,2024-31-01,10,,,,", "line 4: purchase_date: '2024-31-01' is not a date"),
    ("ASSET-9,x,SN-9,,,,2024-01-01,-5,,,,", "line 4: purchase_cost: '-5' must be a non-negative amount"),
    ("ASSET-1,x,SN-9,,,,,,,,,", "line 4: duplicate asset tag 'ASSET-1' (first on line 2)"),
    ("ASSET-9,x,SN-9,,,Exploded,,,,,,", "line 4: status: 'Exploded' is not one of"),
])
def test_one_bad_row_is_reported_with_its_line_and_nothing_is_written(tmp_path, bad_row, message):
    reg = open_register(None, tmp_path)
    (tmp_path / "a.csv").write_text(SNIPE_LIKE + bad_row + "\n")
    code, _out, err = do_import(reg, tmp_path / "a.csv")
    assert code == 1 and message in err and "nothing was imported" in err
    assert reg.assets() == []


def test_match_on_serial_updates_the_asset_with_that_serial(tmp_path):
    reg = open_register(None, tmp_path)
    (tmp_path / "a.csv").write_text(SNIPE_LIKE)
    do_import(reg, tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("Tag,Serial,Location\nNEW-TAG,sn-2,DC9\n")
    code, out, _ = do_import(reg, tmp_path / "b.csv", match_on="serial")
    assert code == 0 and "updated 1" in out
    assert reg.asset("ASSET-2").location == "DC9" and reg.asset("NEW-TAG") is None


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_round_trips_losslessly(tmp_path, fmt):
    reg = open_register(None, tmp_path / "one")
    (tmp_path / "a.csv").write_text(SNIPE_LIKE.replace("Rack Unit", "Host"))  # 'Host' means hostname
    do_import(reg, tmp_path / "a.csv")
    reg.write_assets([parse_asset({"asset_tag": "L-1", "category": "licence", "licence_product": "oracle-*",
                                   "seats": "5", "depreciation_method": "straight_line",
                                   "depreciation_years": "3", "salvage_value": "10", "purchase_cost": "100",
                                   "purchase_date": "2024-01-01"}, {"po": "PO-7", "name": "custom name"})], [])
    exported = tmp_path / f"out.{fmt}"
    register_export(Namespace(format=fmt, output=str(exported)), reg, io.StringIO())
    other = open_register(None, tmp_path / "two")
    assert do_import(other, exported)[0] == 0
    assert other.assets() == reg.assets()
    again = io.StringIO()
    register_export(Namespace(format=fmt, output=None), other, again)
    assert again.getvalue() == exported.read_text()


def test_import_of_10000_rows(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    lines = ["Asset Tag,Serial,Hostname,Owner,Purchase Date,Purchase Cost,Status"]
    lines += [f"T-{i:05d},SN{i:05d},host-{i},team-{i % 7},2024-01-01,{i}.50,deployed" for i in range(10_000)]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    code, out, _ = do_import(reg, tmp_path / "big.csv")
    assert code == 0 and "created 10000" in out
    assert time.monotonic() - started < 20
    assert reg.asset("T-09999").purchase_cost == Decimal("9999.50")
    code, out, _ = do_import(reg, tmp_path / "big.csv")
    assert "unchanged 10000" in out


def test_list_filters_by_owner_and_status(tmp_path):
    reg = open_register(None, tmp_path)
    (tmp_path / "a.csv").write_text(SNIPE_LIKE)
    do_import(reg, tmp_path / "a.csv")
    out = io.StringIO()
    register_list(Namespace(flag=None, owner=None, status="in_stock", kind=None, format="json"), reg, out)
    assert [a["asset_tag"] for a in json.loads(out.getvalue())] == ["ASSET-2"]


@pytest.mark.parametrize("method, on, expected", [
    ("straight_line", "2025-01-01", Decimal("700.00")),   # 1000 -> 100 over 3 years, 1/3 elapsed
    ("straight_line", "2030-01-01", Decimal("100.00")),   # never below salvage
    ("declining_balance", "2025-01-01", Decimal("333.33")),  # 1000 * (1 - 2/3) after one year
    (None, "2026-01-01", Decimal("1000.00")),
])
def test_book_value_on_any_date(method, on, expected):
    asset = parse_asset({"asset_tag": "A", "purchase_cost": "1000", "purchase_date": "2024-01-01",
                         "depreciation_method": method, "depreciation_years": "3", "salvage_value": "100"})
    value = book_value(asset, date.fromisoformat(on))
    assert abs(value - expected) <= Decimal("1.50")
