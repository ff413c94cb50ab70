"""The isolation test's populated organization (`world`), for the API's real-data checks."""

from tests.test_isolation import world  # noqa: F401 (a fixture)
