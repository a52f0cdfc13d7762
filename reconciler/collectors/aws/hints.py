"""Owner hints: the tags of listed resources whose list call leaves tags out, for the untracked view.

In: an account-level ScopeResult just listed (S3 buckets), its Account and the shared Clients. Out: each
resource's `hint_tags`, or a note on the ScopeResult saying why there are none. The Resource Groups
Tagging API answers the tags of a whole region's buckets in GetResources pages of 100, so owner hints cost
one call per 100 tagged buckets instead of one GetBucketTagging per bucket. It is asked once per region
holding listed buckets, skipping a region whose buckets an earlier answer already covered (moto answers
every bucket from any region), and no further page is asked for once every listed bucket is answered.
A denied or broken GetResources leaves the listing as it is: hints absent, noted. IAM users are not
answered by GetResources (AWS documents it): theirs are fetched per untracked user
(collector.hint_wants), since accounts hold few users.

Page shape. AWS takes ResourcesPerPage (at most 100) or TagsPerPage (100..500, a page never splitting a
resource, an untagged one counting as one tag), not both in one request. ResourcesPerPage=100 bounds the
calls at one per 100 resources whatever their tag count (TagsPerPage=500 would do better below 5 tags a
bucket and ten times worse at 50). Emulators behind a custom endpoint (moto) apply both limits at once,
the tag budget defaulting to 100 even when only ResourcesPerPage is sent, which ends each page at 99
one-tag buckets: there both are sent, the tag budget at its largest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import urlsplit

from .scan import AWS_ERRORS, Resource, ScopeResult, UnexpectedAnswer, checked
from .sessions import LIST_WEIGHT, Account, Clients, Redactor, describe_error
from .spec import tag_map

SERVICE = "resourcegroupstaggingapi"
PAGE = 100  # ResourcesPerPage's largest
TAG_BUDGET = 500  # TagsPerPage's largest
# AWS's own endpoint domains (commercial, China, dual-stack, ISO partitions; VPC endpoints included)
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def tagging_hints(result: ScopeResult, account: Account, clients: Clients, redact: Redactor) -> None:
    """Fill `hint_tags` of the scope's located resources from GetResources, region by region."""
    kind = result.spec.tagging_type
    if not result.ok or not kind:
        return
    by_region: dict[str, set[str]] = defaultdict(set)
    for resource in result.resources or ():
        if resource.region and "tags" not in resource.facts:
            by_region[resource.region].add(arn(resource))
    answered: dict[str, dict[str, str]] = {}
    for region, here in sorted(by_region.items()):
        if here <= answered.keys():
            continue
        elsewhere = set().union(*(arns for other, arns in by_region.items() if other != region))
        try:
            client = clients.for_account(account, SERVICE, region)
            answered.update(region_tags(client, kind, clients, here - answered.keys(), elsewhere - answered.keys()))
        except AWS_ERRORS as error:
            result.note = f"owner hints of {result.spec.name} in {region}: {redact(describe_error(error))}"
            by_region[region] = set()  # no hints there (never {} for "untagged")
    located = set().union(*by_region.values())
    for resource in result.resources or ():  # GetResources leaves out resources never tagged
        if arn(resource) in located:
            resource.hint_tags = answered.get(arn(resource), {})


def arn(resource: Resource) -> str:
    return str(resource.identity.get("arn"))


def page_args(client: Any) -> dict[str, int]:
    """The largest page the endpoint takes (see the module docstring)."""
    host = urlsplit(str(client.meta.endpoint_url)).hostname or ""
    if host.endswith(AWS_DOMAINS):
        return {"ResourcesPerPage": PAGE}
    return {"ResourcesPerPage": PAGE, "TagsPerPage": TAG_BUDGET}


def region_tags(client: Any, kind: str, clients: Clients, here: AbstractSet[str], elsewhere: AbstractSet[str]
                ) -> dict[str, dict[str, str]]:
    """{ARN: tags} of one region's resources of `kind`, page by page until the answer ends or holds every
    ARN we listed (`here`: in this region, `elsewhere`: in other regions, for an endpoint answering all)."""
    found: dict[str, dict[str, str]] = {}
    args: dict[str, Any] = {"ResourceTypeFilters": [kind], **page_args(client)}
    with clients.slot(client, LIST_WEIGHT):
        while True:
            page = client.get_resources(**args)
            for item in checked(page.get("ResourceTagMappingList", [None]), "GetResources", "ResourceTagMapping"):
                found[str(item.get("ResourceARN"))] = tag_map(item.get("Tags"))
            token = page.get("PaginationToken")
            if not token or complete(found.keys(), here, elsewhere):
                return found
            if token == args.get("PaginationToken"):  # the same page again: it would never end
                raise UnexpectedAnswer(operation="GetResources", key="new PaginationToken")
            args["PaginationToken"] = token


def complete(found: AbstractSet[str], here: AbstractSet[str], elsewhere: AbstractSet[str]) -> bool:
    """Every bucket listed here is answered, and the endpoint is regional (answered none from elsewhere)
    or has answered those too: a further page could only hold buckets the listing did not see."""
    if not here <= found:
        return False
    return not (found & elsewhere) or elsewhere <= found
