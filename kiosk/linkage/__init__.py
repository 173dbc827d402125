"""Mynaportal linkage on the spot: the 9-step engine, its gateway client and a
reference gateway for tests (docs/linkage.md, docs/linkage-protocol.md)."""
