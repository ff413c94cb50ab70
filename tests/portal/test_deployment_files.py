"""The container files cannot run here (no container engine): check what can be checked."""

import re

import yaml

from tests.conftest import ROOT


def documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))


def test_compose_runs_every_part_with_health_checks():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} == set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert services["worker"]["command"].startswith("celery -A portal worker")
    assert services["beat"]["command"].startswith("celery -A portal beat")
    assert services["web"].get("command") is None  # the image's CMD: gunicorn
    # web and worker share the metrics folder that PROMETHEUS_MULTIPROC_DIR names.
    folder = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert f"metrics:{folder}" in services["web"]["volumes"]
    assert f"metrics:{folder}" in services["worker"]["volumes"]


def test_the_image_runs_gunicorn_as_a_user_other_than_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER portal$", dockerfile, re.MULTILINE)
    assert dockerfile.rstrip().endswith('CMD ["gunicorn"]')
    assert "collectstatic" in dockerfile and "compilemessages" in dockerfile


def test_every_variable_the_deployment_files_read_is_documented():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    portal_env = set(compose["services"]["web"]["environment"])
    gunicorn_env = set(
        re.findall(r'environ\.get\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text())
    )
    missing = (portal_env | gunicorn_env) - documented_variables()
    assert missing == set()


def production_requires() -> set[str]:
    """The variables without which production settings refuse to start."""
    settings = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r'"([A-Z_]+) \(or \1_FILE\) is required in production', settings))


def test_compose_demands_every_variable_production_requires():
    required = production_requires()
    assert {"SECRET_KEY", "API_KEY_PEPPERS", "FIELD_ENCRYPTION_KEYS"} <= required
    compose = (ROOT / "compose.yaml").read_text()
    for name in required:
        assert re.search(rf"^  {name}: \$\{{{name}:\?", compose, re.MULTILINE), name


def test_the_image_build_passes_every_variable_production_requires():
    """collectstatic and compilemessages run with production settings in the Dockerfile."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    shell_commands = dockerfile.split("&&")
    for command in ("collectstatic", "compilemessages"):
        (line,) = [line for line in shell_commands if f"manage.py {command}" in line]
        assert {name for name in production_requires() if f"{name}=" not in line} == set()
