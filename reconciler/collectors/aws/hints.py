"""Owner hints: the tags of listed resources whose list call leaves tags out, for the untracked view.

In: an account-level ScopeResult just listed (S3 buckets), its Account and the shared Clients. Out: each
resource's `hint_tags`, or a note on the ScopeResult saying why there are none. The Resource Groups
Tagging API answers the tags of a whole region's buckets in GetResources pages of 100, so owner hints cost
one call per 100 tagged buckets instead of one GetBucketTagging per bucket. It is asked once per region
holding listed buckets, skipping a region whose buckets an earlier answer already covered (moto answers
every bucket from any region). A denied or broken GetResources leaves the listing as it is: hints absent,
noted. IAM users are not answered by GetResources (AWS documents it): theirs are fetched per untracked user
(collector.hint_wants), since accounts hold few users.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .scan import AWS_ERRORS, Resource, ScopeResult, checked
from .sessions import Account, Clients, Redactor, describe_error
from .spec import tag_map

SERVICE = "resourcegroupstaggingapi"
PAGE = 100  # the API's largest page


def tagging_hints(result: ScopeResult, account: Account, clients: Clients, redact: Redactor) -> None:
    """Fill `hint_tags` of the scope's located resources from GetResources, region by region."""
    kind = result.spec.tagging_type
    if not result.ok or not kind:
        return
    by_region: dict[str, list[Resource]] = defaultdict(list)
    for resource in result.resources or ():
        if resource.region and "tags" not in resource.facts:
            by_region[resource.region].append(resource)
    answered: dict[str, dict[str, str]] = {}
    for region, resources in sorted(by_region.items()):
        if not all(r.identity.get("arn") in answered for r in resources):
            try:
                answered.update(region_tags(clients.for_account(account, SERVICE, region), kind, clients))
            except AWS_ERRORS as error:
                result.note = f"owner hints of {result.spec.name} in {region}: {redact(describe_error(error))}"
                continue
        for resource in resources:  # GetResources leaves out resources never tagged
            resource.hint_tags = answered.get(str(resource.identity.get("arn")), {})


def region_tags(client: Any, kind: str, clients: Clients) -> dict[str, dict[str, str]]:
    """{ARN: tags} of one region's resources of `kind`, 100 per page."""
    found: dict[str, dict[str, str]] = {}
    with clients.slot(client):
        pages = client.get_paginator("get_resources").paginate(ResourceTypeFilters=[kind],
                                                                 ResourcesPerPage=PAGE)
        for page in pages:
            for item in checked(page.get("ResourceTagMappingList", [None]), "GetResources", "ResourceTagMapping"):
                found[str(item.get("ResourceARN"))] = tag_map(item.get("Tags"))
    return found
