"""Audits of model inputs and outputs. :mod:`~pellucid.audit.pii` finds and redacts personal data."""
