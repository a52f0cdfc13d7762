"""Owner hints: the tags of listed resources whose list call leaves tags out, for the untracked view.

In: an account-level ScopeResult just listed (S3 buckets), its Account and the shared Clients. Out: each
resource's `hint_tags`, or a note on the ScopeResult saying why there are none. The Resource Groups
Tagging API answers the tags of a whole region's buckets in GetResources pages of 100, so owner hints cost
one call per 100 tagged buckets instead of one GetBucketTagging per bucket. It is asked once per region
holding listed buckets, skipping a region whose buckets an earlier answer already covered (moto answers
every bucket from any region), and no further page is asked for once every listed bucket is answered.
Where the listing takes more than one ListBuckets (no `BucketRegion` in the answer: the per-region
listings follow), the home region's pages go out beside those listings (`HomePages`), once the first
answer shows the account holds buckets: they are chained by their tokens, and waiting for the whole
listing put them all on the scan's critical path. Until the listing is known those pages cannot tell
whether every listed bucket is answered, so the stop rule applies from the first page after it arrives.
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
from concurrent.futures import Executor, Future
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


class HomePages:
    """GetResources pages of one kind in the home region, asked for while the listing is still under way:
    `start` (the lister's `begun` hook) sends them. `tell` gives the pages what was listed (from the
    thread that learnt it): from then on no page is asked for once every listed bucket is answered, and
    none at all once the listing failed. Never started: tagging_hints asks the home region as any other."""

    def __init__(self, pool: Executor, account: Account, kind: str, region: str, clients: Clients):
        self.pool, self.account, self.kind, self.region, self.clients = pool, account, kind, region, clients
        self.wanted: tuple[AbstractSet[str], AbstractSet[str]] | None = None  # (here, elsewhere) once listed
        self.stopped = False
        self.future: Future[dict[str, dict[str, str]]] | None = None

    def start(self) -> None:
        if self.future is None:
            self.future = self.pool.submit(self._pages)

    def _pages(self) -> dict[str, dict[str, str]]:
        client = self.clients.for_account(self.account, SERVICE, self.region)
        return region_tags(client, self.kind, self.clients, self)

    def tell(self, result: ScopeResult) -> None:
        if not result.ok or not result.spec.tagging_type:
            self.stopped = True
            return
        by_region = located(result)
        here = by_region.pop(self.region, set())
        self.wanted = (here, set().union(*by_region.values()))

    def done(self, found: AbstractSet[str]) -> bool:
        wanted = self.wanted
        return self.stopped or (wanted is not None and complete(found, *wanted))


class Listed:
    """What a region's pages are asked for when the listing is known before they start."""

    def __init__(self, here: AbstractSet[str], elsewhere: AbstractSet[str]):
        self.here, self.elsewhere = here, elsewhere

    def done(self, found: AbstractSet[str]) -> bool:
        return complete(found, self.here, self.elsewhere)


def tagging_hints(result: ScopeResult, account: Account, clients: Clients, redact: Redactor,
                  early: HomePages | None = None) -> None:
    """Fill `hint_tags` of the scope's located resources from GetResources, region by region (the home
    region's from `early`, its pages asked for since the listing started)."""
    pages = early.future if early is not None else None
    if early is not None and pages is not None:
        early.tell(result)
    else:
        early = None  # never started: the home region is asked below as any other
    kind = result.spec.tagging_type
    if not result.ok or not kind:
        if pages is not None:  # stopped after the page in flight; its answer (or error) is of no use
            pages.exception()
        return
    by_region = located(result)
    answered: dict[str, dict[str, str]] = {}
    if early is not None and pages is not None:
        try:
            answered.update(pages.result())
        except AWS_ERRORS as error:
            result.note = f"owner hints of {result.spec.name} in {early.region}: {redact(describe_error(error))}"
            by_region[early.region] = set()  # no hints there (never {} for "untagged")
    for region, here in sorted(by_region.items()):
        if (early is not None and region == early.region) or here <= answered.keys():
            continue
        elsewhere = set().union(*(arns for other, arns in by_region.items() if other != region))
        try:
            client = clients.for_account(account, SERVICE, region)
            wanted = Listed(here - answered.keys(), elsewhere - answered.keys())
            answered.update(region_tags(client, kind, clients, wanted))
        except AWS_ERRORS as error:
            result.note = f"owner hints of {result.spec.name} in {region}: {redact(describe_error(error))}"
            by_region[region] = set()  # no hints there (never {} for "untagged")
    hinted = set().union(*by_region.values())
    for resource in result.resources or ():  # GetResources leaves out resources never tagged
        if arn(resource) in hinted:
            resource.hint_tags = answered.get(arn(resource), {})


def located(result: ScopeResult) -> dict[str, set[str]]:
    """{region: ARNs} of the scope's resources whose region is known and whose tags are not facts."""
    by_region: dict[str, set[str]] = defaultdict(set)
    for resource in result.resources or ():
        if resource.region and "tags" not in resource.facts:
            by_region[resource.region].add(arn(resource))
    return by_region


def arn(resource: Resource) -> str:
    return str(resource.identity.get("arn"))


def page_args(client: Any) -> dict[str, int]:
    """The largest page the endpoint takes (see the module docstring)."""
    host = urlsplit(str(client.meta.endpoint_url)).hostname or ""
    if host.endswith(AWS_DOMAINS):
        return {"ResourcesPerPage": PAGE}
    return {"ResourcesPerPage": PAGE, "TagsPerPage": TAG_BUDGET}


def region_tags(client: Any, kind: str, clients: Clients, wanted: HomePages | Listed
                ) -> dict[str, dict[str, str]]:
    """{ARN: tags} of one region's resources of `kind`, page by page until the answer ends or `wanted`
    says every ARN we listed is answered (in this region, and in others for an endpoint answering all)."""
    found: dict[str, dict[str, str]] = {}
    args: dict[str, Any] = {"ResourceTypeFilters": [kind], **page_args(client)}
    with clients.slot(client, LIST_WEIGHT):
        while True:
            page = client.get_resources(**args)
            for item in checked(page.get("ResourceTagMappingList", [None]), "GetResources", "ResourceTagMapping"):
                found[str(item.get("ResourceARN"))] = tag_map(item.get("Tags"))
            token = page.get("PaginationToken")
            if not token or wanted.done(found.keys()):
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
