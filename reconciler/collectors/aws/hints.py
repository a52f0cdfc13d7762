"""Owner hints: the tags of listed resources whose list call leaves tags out, for the untracked view.

In: an account-level ScopeResult just listed (S3 buckets), its Account and the shared Clients. Out: each
resource's `hint_tags`, or a note on the ScopeResult saying why there are none. The Resource Groups
Tagging API answers tags 100 resources a call instead of one GetBucketTagging per bucket, two ways:
- by name (`ResourceARNList`, at most 100 ARNs, asked in the bucket's own region): the calls are
  independent, so they all go out at once, each holding its endpoint's slot. Used whenever that costs no
  more than one call per 100 listed buckets overall (each region's last call is partly empty);
- otherwise by pages of the region's whole answer, chained by their tokens: asked once per region holding
  listed buckets, skipping a region whose buckets an earlier answer already covered (moto answers every
  bucket from any region), no further page asked for once every listed bucket is answered.
Ten chained pages for 1,000 buckets were the critical path of a run with a few bucket CIs on a 30 ms
link; by name they take one round of calls. Both ways leave out buckets never tagged (hints `{}`).
A denied or broken GetResources leaves the listing as it is: hints absent, noted. IAM users are not
answered by GetResources (AWS documents it): theirs are fetched per untracked user
(collector.hint_wants), since accounts hold few users.

Page shape. AWS takes ResourcesPerPage (at most 100) or TagsPerPage (100..500, a page never splitting a
resource, an untagged one counting as one tag), not both in one request. ResourcesPerPage=100 bounds the
calls at one per 100 resources whatever their tag count (TagsPerPage=500 would do better below 5 tags a
bucket and ten times worse at 50). Emulators behind a custom endpoint (moto) apply both limits at once,
the tag budget defaulting to 100 even when only ResourcesPerPage is sent, which ends each page at 99
one-tag buckets: there both are sent, the tag budget at its largest. A call by name takes neither on AWS
(refused); moto still cuts its answer at 50 resources unless told, so there both are sent with it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
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
    """Fill `hint_tags` of the scope's located resources from GetResources: by name when that costs no
    more than one call per 100 buckets overall, else by pages, region by region."""
    kind = result.spec.tagging_type
    if not result.ok or not kind:
        return
    by_region: dict[str, set[str]] = defaultdict(set)
    for resource in result.resources or ():
        if resource.region and "tags" not in resource.facts:
            by_region[resource.region].add(arn(resource))
    by_name = sum(calls(len(arns)) for arns in by_region.values())
    if by_name <= calls(sum(len(arns) for arns in by_region.values())):
        answered = named_tags(result, account, clients, redact, by_region)
    else:
        answered = paged_tags(result, account, clients, redact, by_region)
    located = set().union(*by_region.values())
    for resource in result.resources or ():  # GetResources leaves out resources never tagged
        if arn(resource) in located:
            resource.hint_tags = answered.get(arn(resource), {})


def calls(resources: int) -> int:
    return -(-resources // PAGE)


def named_tags(result: ScopeResult, account: Account, clients: Clients, redact: Redactor,
               by_region: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """{ARN: tags} asked by name, 100 ARNs a call in their own region, every call at once (each within its
    endpoint's cap). A failed call drops its ARNs from `by_region` (no hints for them) and notes why."""
    chunks = [(region, names[start:start + PAGE]) for region, arns in sorted(by_region.items())
              for names in [sorted(arns)] for start in range(0, len(names), PAGE)]

    def one(chunk: tuple[str, list[str]]) -> dict[str, dict[str, str]] | Exception:
        try:
            client = clients.for_account(account, SERVICE, chunk[0])
            with clients.slot(client, LIST_WEIGHT):
                return arn_tags(client, chunk[1])
        except AWS_ERRORS as error:
            return error

    if len(chunks) <= 1:
        answers = [one(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(min(len(chunks), clients.per_endpoint), thread_name_prefix="aws-tags") as pool:
            answers = list(pool.map(one, chunks))
    answered: dict[str, dict[str, str]] = {}
    for (region, names), answer in zip(chunks, answers, strict=True):
        if isinstance(answer, Exception):
            result.note = f"owner hints of {result.spec.name} in {region}: {redact(describe_error(answer))}"
            by_region[region].difference_update(names)  # no hints for them (never {} for "untagged")
        else:
            answered.update(answer)
    return answered


def arn_tags(client: Any, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """{ARN: tags} of the named resources: one call (an emulator cutting the answer short: its pages)."""
    found: dict[str, dict[str, str]] = {}
    args: dict[str, Any] = {"ResourceARNList": list(names), **named_args(client)}
    while True:
        page = client.get_resources(**args)
        for item in checked(page.get("ResourceTagMappingList", [None]), "GetResources", "ResourceTagMapping"):
            found[str(item.get("ResourceARN"))] = tag_map(item.get("Tags"))
        token = page.get("PaginationToken")
        if not token:
            return found
        if token == args.get("PaginationToken"):  # the same page again: it would never end
            raise UnexpectedAnswer(operation="GetResources", key="new PaginationToken")
        args["PaginationToken"] = token


def paged_tags(result: ScopeResult, account: Account, clients: Clients, redact: Redactor,
               by_region: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """{ARN: tags} from each region's pages; a failed region's ARNs are dropped from `by_region`, noted."""
    answered: dict[str, dict[str, str]] = {}
    for region, here in sorted(by_region.items()):
        if here <= answered.keys():
            continue
        elsewhere = set().union(*(arns for other, arns in by_region.items() if other != region))
        try:
            client = clients.for_account(account, SERVICE, region)
            kind = str(result.spec.tagging_type)
            answered.update(region_tags(client, kind, clients, here - answered.keys(), elsewhere - answered.keys()))
        except AWS_ERRORS as error:
            result.note = f"owner hints of {result.spec.name} in {region}: {redact(describe_error(error))}"
            by_region[region] = set()  # no hints there (never {} for "untagged")
    return answered


def arn(resource: Resource) -> str:
    return str(resource.identity.get("arn"))


def on_aws(client: Any) -> bool:
    return (urlsplit(str(client.meta.endpoint_url)).hostname or "").endswith(AWS_DOMAINS)


def page_args(client: Any) -> dict[str, int]:
    """The largest page the endpoint takes (see the module docstring)."""
    if on_aws(client):
        return {"ResourcesPerPage": PAGE}
    return {"ResourcesPerPage": PAGE, "TagsPerPage": TAG_BUDGET}


def named_args(client: Any) -> dict[str, int]:
    """What goes with ResourceARNList: nothing on AWS (it refuses page sizes there), else the largest page."""
    return {} if on_aws(client) else page_args(client)


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
