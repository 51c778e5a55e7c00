"""auditpack: audit evidence from Claude Enterprise usage and audit data."""

__version__ = "0.1.0"
