"""Money at stake: what the findings of a run are worth, per owner — an estimate, never a bill.

In: report items (after classify), the register's value of each flagged asset (book value, cost,
seats — the pipeline computes them with the register's depreciation), the facts of the untracked
resources, and the price table (`prices:` in reconciler.yml over DEFAULT_PRICES). Out: the JSON
report's `money` object. Pure.

- register: book value of assets nothing configures or nobody sees (`owned_unconfigured`, `unseen`),
  of assets at or near EOL / end of warranty (`eol`, `warranty_expiring`), and the cost of the seats
  used beyond a licence's count (`licence_over`, cost per seat × seats over);
- cloud: a monthly cost estimate of untracked resources from the price table: EBS volumes (GB-month by
  volume type), Elastic IPs not associated with anything, running instances by type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model import Item

# AWS public on-demand list prices, us-east-1, USD, as published in 2024 (EBS per GB-month; public
# IPv4 $0.005/h since Feb 2024; Linux instances per hour × 730 h). Override any of it in reconciler.yml.
DEFAULT_PRICES: dict[str, Any] = {
    "currency": "USD",
    "region": "us-east-1",
    "taken": "2024-06",
    "source": "AWS public on-demand list prices",
    "hours_per_month": 730,
    "ebs_gb_month": {"gp3": 0.08, "gp2": 0.10, "io1": 0.125, "io2": 0.125, "st1": 0.045, "sc1": 0.015,
                     "standard": 0.05},
    "eip_idle_hour": 0.005,
    "instance_hour": {"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416,
                      "t3.large": 0.0832, "m5.large": 0.096, "m5.xlarge": 0.192, "c5.large": 0.085,
                      "r5.large": 0.126},
}
ASSET_FLAGS = ("owned_unconfigured", "unseen", "eol", "warranty_expiring")
NO_OWNER = "(no owner)"


def prices_from(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PRICES with the project's `prices:` laid over them, one level deep."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in DEFAULT_PRICES.items()}
    for key, value in (settings or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def monthly_cost(kind: str | None, facts: Mapping[str, Any], prices: Mapping[str, Any]) -> tuple[float, str] | None:
    """(estimated monthly cost, how it was estimated) of one cloud resource, or None if not priced."""
    hours = float(prices.get("hours_per_month", 730))
    if kind == "aws.ec2.volume" and facts.get("size") is not None:
        rate = prices["ebs_gb_month"].get(str(facts.get("volume_type") or "gp2"))
        if rate is not None:
            return float(facts["size"]) * rate, f"{facts['size']} GB {facts.get('volume_type')} × {rate}/GB-month"
    if kind == "aws.ec2.eip" and not facts.get("associated"):
        rate = float(prices["eip_idle_hour"])
        return rate * hours, f"idle Elastic IP × {rate}/h"
    if kind == "aws.ec2.instance" and str(facts.get("state", "running")) == "running":
        rate = prices["instance_hour"].get(str(facts.get("instance_type")))
        if rate is not None:
            return rate * hours, f"{facts.get('instance_type')} × {rate}/h"
    return None


def owner_of(item: Item) -> str:
    """The item's owner, else the owner its tags hint at (untracked resources), else NO_OWNER."""
    if item.owner:
        return item.owner
    hints = item.details.get("owner_hints") if item.details else None
    if isinstance(hints, Mapping) and hints:
        ranked = sorted(hints.items(), key=lambda kv: (kv[0].lower() not in ("owner", "team"), kv[0].lower()))
        return f"{ranked[0][1]} (tag {ranked[0][0]})"  # a hint, and said to be one
    if isinstance(hints, (list, tuple)) and hints:
        return str(hints[0])
    return NO_OWNER


def money_at_stake(items: Sequence[Item], asset_values: Mapping[str, Mapping[str, Any]],
                   facts_of: Mapping[tuple[str, str], Mapping[str, Any]], prices: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """`asset_values`: asset tag -> {book_value, currency, cost_per_seat}; `facts_of`: (kind, identity
    key) -> facts of an untracked resource (see `identity_key`)."""
    entries = [entry for item in items for entry in _entries(item, asset_values, facts_of, prices)]
    if not entries:
        return {}
    by_owner: dict[str, dict[str, dict[str, float]]] = {}
    for entry in entries:
        figures = by_owner.setdefault(entry["owner"], {"book_value": {}, "monthly": {}})
        bucket = figures[entry["measure"]]
        bucket[entry["currency"]] = round(bucket.get(entry["currency"], 0.0) + entry["amount"], 2)
    totals: dict[str, dict[str, float]] = {"book_value": {}, "monthly": {}}
    for figures in by_owner.values():
        for measure, amounts in figures.items():
            for currency, amount in amounts.items():
                totals[measure][currency] = round(totals[measure].get(currency, 0.0) + amount, 2)
    return {"estimate": True, "prices": {k: prices.get(k) for k in ("source", "region", "taken", "currency")},
            "totals": totals, "by_owner": dict(sorted(by_owner.items())),
            "items": sorted(entries, key=lambda e: (-e["amount"], e["subject"]))}


def identity_key(identity: Mapping[str, Any]) -> str:
    return "|".join(f"{k}={identity[k]}" for k in sorted(identity))


def _entries(item: Item, asset_values: Mapping[str, Mapping[str, Any]],
             facts_of: Mapping[tuple[str, str], Mapping[str, Any]], prices: Mapping[str, Any]) -> list[dict[str, Any]]:
    subject = item.ci or item.asset or identity_key(item.identity)
    entry = {"subject": subject, "kind": item.kind, "owner": owner_of(item)}
    if "untracked" in item.flags and item.kind:
        cost = monthly_cost(item.kind, facts_of.get((item.kind, identity_key(item.identity)), {}), prices)
        if cost:
            return [{**entry, "measure": "monthly", "amount": round(cost[0], 2), "currency": prices["currency"],
                     "reason": "untracked", "basis": cost[1]}]
    value = asset_values.get(item.asset or "")
    if value is None:
        return []
    if "licence_over" in item.flags and value.get("cost_per_seat"):
        over = int(item.identity.get("installations", 0)) - int(item.identity.get("seats", 0))
        return [{**entry, "measure": "book_value", "amount": round(over * value["cost_per_seat"], 2),
                 "currency": value["currency"], "reason": "licence_over", "basis": f"{over} seats over"}]
    reasons = [flag for flag in ASSET_FLAGS if flag in item.flags]
    if reasons and value.get("book_value"):
        return [{**entry, "measure": "book_value", "amount": float(value["book_value"]),
                 "currency": value["currency"], "reason": ", ".join(reasons), "basis": "book value"}]
    return []


def amounts_text(amounts: Mapping[str, float]) -> str:
    return " + ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(amounts.items())) or "0"
