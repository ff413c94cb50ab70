"""Format overrides per language (FORMAT_MODULE_PATH); anything not set here falls back to
Django's own locale formats."""
