"""Quota reads shared by the quota pages and the overview."""

from billing.quotas import services as quotas


def with_usage(quota_list):
    """Attach each quota's running period, percentage and forecast (one query)."""
    running = quotas.current_periods(quota_list)
    for quota in quota_list:
        quota.current = running.get(quota.pk)
        if quota.current is not None:
            quota.current.quota = quota  # its percent reads the quota: no query per period
        quota.percent = quota.current.percent if quota.current else 0.0
        quota.bar = min(quota.percent, 100)
        quota.runs_out = quotas.forecast(quota, quota.current)
    return quota_list
