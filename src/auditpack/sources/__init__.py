"""HTTP clients for the Analytics API and the Compliance API: the only layer on the network."""

from auditpack.sources._http import ApiClient, Pacer
from auditpack.sources.analytics import AnalyticsSource
from auditpack.sources.compliance import ComplianceSource

__all__ = ["AnalyticsSource", "ApiClient", "ComplianceSource", "Pacer"]
