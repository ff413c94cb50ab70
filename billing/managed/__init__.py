"""The operator's side (issue #23): account managers (客户经理) with their customers and
four-eyes proposals of negotiated packages and contract discounts, and the consolidated bill
(统一账单): the monthly settlement file pushed to the operator's billing system.

Top floor of billing (it reads packages, invoicing and quotas); docs/packages.md,
"Operator side".
"""
