"""The Compliance API (``/v1/compliance/*``): the activity feed and the directory endpoints.

Content endpoints (chats, files, projects, artifacts, sessions) are deliberately absent, so they
answer 404 like any unknown path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from auditpack.mockapi.activities import ActivityFilter, ActivityLog, TimeBounds
from auditpack.mockapi.cursors import decode_page, encode_page, fingerprint
from auditpack.mockapi.dataset import Dataset, DirectorySnapshot, Record
from auditpack.mockapi.protocol import (
    ApiError,
    Query,
    Response,
    dumps,
    invalid,
    json_bool,
    json_object,
    many,
    method_not_allowed,
    not_found,
    one,
    parse_instant,
    parse_limit,
)

ACTIVITIES_SCOPE = "read:compliance_activities"
ORG_DATA_SCOPE = "read:compliance_org_data"
USER_DATA_SCOPE = "read:compliance_user_data"
API_VERSIONS = ("2023-06-01", "2026-10-21")
CURSOR_PARAMS = ("page", "after_id", "before_id")


@dataclass(frozen=True)
class _Route:
    scope: str
    serve: Callable[[Query], Response]


class ComplianceApi:
    def __init__(self, dataset: Dataset, now: datetime, scopes: tuple[str, ...]) -> None:
        self._log: ActivityLog = dataset.activities
        self._now_ts = now.timestamp()
        self._scopes = scopes
        self._dir: DirectorySnapshot = dataset.snapshot_at(now)
        self._dir.check()

    def handle(
        self, method: str, segments: list[str], query: Query, version: str | None
    ) -> Response:
        """Serve one authenticated request; ``segments`` is the path after ``/v1/compliance/``."""
        route = self._route(segments)
        if method != "GET":
            raise method_not_allowed(method)
        if route.scope not in self._scopes:
            raise ApiError(
                403,
                "permission_error",
                f"Missing required scopes. Got: {list(self._scopes)} Needed: {[route.scope]}",
            )
        if version is not None and version not in API_VERSIONS:
            raise invalid(
                f"anthropic-version: {version!r} is not a supported version "
                f"({' or '.join(API_VERSIONS)})"
            )
        return route.serve(query)

    def _route(self, segments: list[str]) -> _Route:
        path = "/".join(segments)
        match segments:
            case ["activities"]:
                return _Route(ACTIVITIES_SCOPE, self._activities)
            case ["organizations"]:
                return _Route(ORG_DATA_SCOPE, self._listing(path, 1000, self._dir.organizations))
            case ["organizations", org, "users"]:
                users = self._in_org(org, self._dir.users)
                return _Route(USER_DATA_SCOPE, self._listing(path, 500, users))
            case ["organizations", org, "roles"]:
                return _Route(
                    ORG_DATA_SCOPE, self._listing(path, 500, self._in_org(org, self._dir.roles))
                )
            case ["organizations", org, "roles", role_id]:
                return _Route(ORG_DATA_SCOPE, lambda _: _bare(self._role(org, role_id)))
            case ["organizations", org, "roles", role_id, "permissions"]:
                permissions = self._permissions(org, role_id)
                return _Route(ORG_DATA_SCOPE, self._listing(path, 500, permissions))
            case ["organizations", org, "settings"]:
                return _Route(ORG_DATA_SCOPE, lambda _: _bare(self._settings(org)))
            case ["groups"]:
                return _Route(ORG_DATA_SCOPE, self._groups)
            case ["groups", group_id]:
                return _Route(ORG_DATA_SCOPE, lambda _: _bare(self._group(group_id)))
            case ["groups", group_id, "members"]:
                return _Route(USER_DATA_SCOPE, self._listing(path, 500, self._members(group_id)))
        raise not_found(f"no compliance endpoint at /v1/compliance/{path}")

    # -- activity feed ----------------------------------------------------------------------

    def _activities(self, query: Query) -> Response:
        types = many(query, "activity_types[]")
        excluded = many(query, "exclude_activity_types[]")
        if types and excluded:
            raise invalid("activity_types[] and exclude_activity_types[] cannot be combined")
        flt = ActivityFilter(
            types=_key(types),
            exclude_types=_key(excluded),
            actor_ids=_key(many(query, "actor_ids[]", "user_ids[]")),
            organization_ids=_key(many(query, "organization_ids[]")),
        )
        bounds = self._bounds(query)
        order = one(query, "order") or "desc"
        if order not in ("asc", "desc"):
            raise invalid(f"order: must be asc or desc, got {order!r}")
        limit = parse_limit(query, 100, 5000)
        after, before = one(query, "after_id"), one(query, "before_id")
        if after is not None and before is not None:
            raise invalid("after_id and before_id cannot be combined")
        rows = self._log.matching(flt)
        page = self._log.page(
            rows,
            self._log.window(rows, bounds),
            limit=limit,
            ascending=order == "asc",
            after=None if after is None else self._position("after_id", after),
            before=None if before is None else self._position("before_id", before),
        )
        body = b"".join(
            [
                b'{"data":[',
                page.body_items,
                b'],"has_more":',
                json_bool(page.has_more),
                b',"first_id":',
                dumps(page.first_id),
                b',"last_id":',
                dumps(page.last_id),
                b"}",
            ]
        )
        return Response(200, body)

    def _bounds(self, query: Query) -> TimeBounds:
        """The ``created_at.*`` window, capped at the clock so later activities stay unseen."""
        given: dict[str, float] = {}
        for op in ("gt", "gte", "lt", "lte"):
            raw = one(query, f"created_at.{op}")
            if raw is not None:
                given[op] = parse_instant(f"created_at.{op}", raw).timestamp()
        for low in ("gt", "gte"):
            for high in ("lt", "lte"):
                if low in given and high in given:
                    closed = low == "gte" and high == "lte"
                    if given[high] < given[low] or (given[high] == given[low] and not closed):
                        raise invalid(f"created_at.{high} must be after created_at.{low}")
        lte = min(given.get("lte", self._now_ts), self._now_ts)
        return TimeBounds(gt=given.get("gt"), gte=given.get("gte"), lt=given.get("lt"), lte=lte)

    def _position(self, name: str, activity_id: str) -> int:
        position = self._log.position_of(activity_id)
        if position is None or self._log.created_at(position) > self._now_ts:
            raise invalid(f"{name}: {activity_id!r} is not a known activity id")
        return position

    # -- directory --------------------------------------------------------------------------

    def _listing(
        self, path: str, default_limit: int, records: Callable[[], list[Record]]
    ) -> Callable[[Query], Response]:
        return lambda query: _page(path, query, default_limit, records())

    def _groups(self, query: Query) -> Response:
        prefix = one(query, "name_prefix") or ""
        groups = [g for g in self._dir.groups() if str(g.value.get("name", "")).startswith(prefix)]
        return _page("groups", query, 500, groups)

    def _in_org(
        self, org: str, lister: Callable[[str], list[Record]]
    ) -> Callable[[], list[Record]]:
        def records() -> list[Record]:
            self._org(org)
            return lister(org)

        return records

    def _permissions(self, org: str, role_id: str) -> Callable[[], list[Record]]:
        return lambda: self._dir.permissions(self._role(org, role_id).value["id"])

    def _members(self, group_id: str) -> Callable[[], list[Record]]:
        return lambda: self._dir.group_members(self._group(group_id).value["id"])

    def _org(self, org: str) -> Record:
        for record in self._dir.organizations():
            if record.value.get("uuid") == org:
                return record
        raise not_found(f"organization `{org}` not found in this organization's hierarchy")

    def _role(self, org: str, role_id: str) -> Record:
        self._org(org)
        return _find(self._dir.roles(org), role_id, "role")

    def _group(self, group_id: str) -> Record:
        return _find(self._dir.groups(), group_id, "group")

    def _settings(self, org: str) -> Record:
        self._org(org)
        settings = self._dir.settings(org)
        if settings is None:
            raise not_found(f"organization `{org}` not found in this organization's hierarchy")
        return settings


def _page(path: str, query: Query, default_limit: int, records: list[Record]) -> Response:
    """One page-token page of a directory list: ``{data, has_more, next_page}``."""
    limit = parse_limit(query, default_limit, 1000)
    bound_to = fingerprint(path, query)
    token = one(query, "page")
    offset = 0 if token is None else decode_page(token, bound_to)
    stop = offset + limit
    more = stop < len(records)
    body = json_object(
        [
            ("data", b"[" + b",".join(r.raw for r in records[offset:stop]) + b"]"),
            ("has_more", json_bool(more)),
            ("next_page", dumps(encode_page(stop, bound_to) if more else None)),
        ]
    )
    return Response(200, body)


def _find(records: list[Record], wanted: str, what: str) -> Record:
    for record in records:
        if record.value.get("id") == wanted:
            return record
    raise not_found(f"{what} `{wanted}` not found")


def _bare(record: Record) -> Response:
    return Response(200, record.raw)


def _key(values: list[str]) -> tuple[str, ...]:
    """A canonical filter value list, so equal filters share one cached scan."""
    return tuple(sorted(set(values)))
