"""The evidence store: raw archive, derived DuckDB tables, collection log and sync."""

from auditpack.store.archive import Archive
from auditpack.store.db import Database
from auditpack.store.store import CollectionLog, Store
from auditpack.store.sync import (
    AnalyticsPolicy,
    FeedPolicy,
    SyncRequest,
    SyncResult,
    collect,
)

__all__ = ["AnalyticsPolicy", "Archive", "CollectionLog", "Database", "FeedPolicy", "Store",
           "SyncRequest", "SyncResult", "collect"]
