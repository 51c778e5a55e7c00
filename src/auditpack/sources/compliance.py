"""Compliance API (`/v1/compliance/*`): the activity feed and the directory, never content.

auditpack reads only the endpoints below. Chats, messages, files, projects, artifacts and
session transcripts are deliberately absent: evidence rests on events and directory data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from auditpack.errors import CursorExpired, ResponseError
from auditpack.records import Params, RawResponse, canonical_params
from auditpack.sources._http import ApiClient
from auditpack.sources.models import ActivityPage, CursorPage, decode_feed_page, parse_page

BASE = "/v1/compliance"
ACTIVITIES = BASE + "/activities"
FEED_PAGE = 5000  # the documented maximum of the activity feed
LIST_PAGE = 1000  # the documented maximum of every directory list
_MAX_RESTARTS = 3

ORGANIZATIONS = BASE + "/organizations"
ORG_USERS = BASE + "/organizations/{org_uuid}/users"
ORG_ROLES = BASE + "/organizations/{org_uuid}/roles"
ROLE_PERMISSIONS = BASE + "/organizations/{org_uuid}/roles/{role_id}/permissions"
ORG_SETTINGS = BASE + "/organizations/{org_uuid}/settings"
GROUPS = BASE + "/groups"
GROUP_MEMBERS = BASE + "/groups/{group_id}/members"


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp as the API expects it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def feed_params(lower: datetime | None, upper: datetime, after_id: str | None) -> Params:
    """The query for one page of a feed window [lower, upper)."""
    params: dict[str, str | int | list[str]] = {"limit": FEED_PAGE, "created_at.lt": rfc3339(upper)}
    if lower is not None:
        params["created_at.gte"] = rfc3339(lower)
    if after_id:
        params["after_id"] = after_id
    return canonical_params(params)


class ComplianceSource:
    """Reads the activity feed and the directory page by page."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def feed_page(self, lower: datetime | None, upper: datetime,
                  after_id: str | None,
                  ) -> tuple[RawResponse, ActivityPage, tuple[datetime, datetime] | None]:
        """One page of the feed window [lower, upper), newest first, after `after_id`, and the
        time span its activities cover."""
        raw, page = self.client.get(ACTIVITIES, ACTIVITIES, feed_params(lower, upper, after_id),
                                    parse=lambda body: decode_feed_page(body, ACTIVITIES))
        return raw, page, page.span()

    def listing(self, template: str, **ids: str) -> Iterator[tuple[RawResponse, CursorPage]]:
        """Every page of a directory list, restarting once per rejected page token."""
        path = template.format(**ids)
        base = canonical_params({"limit": LIST_PAGE})
        for restart in range(_MAX_RESTARTS + 1):
            try:
                params = base
                while True:
                    raw, parsed = self.client.get(template, path, params)
                    page = parse_page(CursorPage, parsed, path)
                    yield raw, page
                    if not page.next_page or page.has_more is False:
                        return
                    params = canonical_params((*base, ("page", page.next_page)))
            except CursorExpired:
                if restart == _MAX_RESTARTS:
                    raise

    def settings(self, org_uuid: str) -> tuple[RawResponse, dict[str, Any]]:
        """The effective settings of one linked organization (no pagination)."""
        path = ORG_SETTINGS.format(org_uuid=org_uuid)
        raw, parsed = self.client.get(ORG_SETTINGS, path, ())
        if not isinstance(parsed, dict):
            raise ResponseError(f"{path}: expected a JSON object")
        return raw, parsed
