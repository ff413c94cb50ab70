# One date format per language, the same in both: ISO dates and 24-hour times, as the pages'
# tables, the CSV files and the invoices write them (docs/architecture.md, "Money and time").
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
