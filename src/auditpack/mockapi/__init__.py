"""A real HTTP server that speaks the Analytics API and the Compliance API over a dataset directory.

See ``docs/mock-api.md`` for the dataset format and every server behaviour.
"""
