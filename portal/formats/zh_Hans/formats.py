# Django's zh_Hans formats group numbers by nothing (THOUSAND_SEPARATOR ""): token counts and
# amounts would read "500000". Chinese business documents (bank statements, invoices) group
# by thousands with commas, so the portal does too wherever a template asks for grouping
# (|intcomma, floatformat:"g"). USE_THOUSAND_SEPARATOR stays off: form inputs and data
# attributes keep plain numbers.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3

# One date format per language (portal/formats/en): ISO dates and 24-hour times.
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
