"""Alerts on the self-hosted registry (Cloud Monitoring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components import checks
from stackconfig.reader import setting

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class AlertSettings:
    email: str | None = setting(None, check=checks.matches(checks.EMAIL, "an email address"),
                                doc="Where the self-hosted registry's alerts go (either mode). Unset: no alerts.")
    disk_usage_percent: int = setting(80, check=checks.in_range(50, 99, " %"),
                                      doc="Alert when the registry's data disk is fuller than this.")
    registry_down_minutes: int = setting(5, check=checks.in_range(1, 60, " minutes"),
                                         doc="Alert when the registry has not answered for this long (external load "
                                             "balancer: on any 503 answer in a window this long).")
    error_rate_percent: int = setting(5, check=checks.in_range(1, 100, " %"),
                                      doc="External load balancer: alert when more than this share of requests "
                                          "of the last 5 minutes got a 5xx answer.")
    bucket_size_gb: int = setting(100, check=checks.in_range(1, 1_000_000, " GB"),
                                  doc="storage=gcs: alert when the registry's bucket holds more than this many "
                                      "GB (10^9 bytes).")

