"""Shared test configuration: keep werkzeug's per-request log lines out of test output."""

import logging

logging.getLogger("werkzeug").setLevel(logging.WARNING)
