"""Every user-facing string has a zh-Hans translation, and the shipped catalog is current."""

import shutil
import subprocess
import sys

import polib

from tests.conftest import ROOT

CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
SOURCES = ["portal", "accounts", "projects", "billing", "templates", "locale", "manage.py"]


def entries(po):
    return {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}


def test_every_message_has_a_zh_hans_translation():
    po = polib.pofile(str(CATALOG / "django.po"))
    missing = [e.msgid for e in po if not e.obsolete and (not e.translated() or e.fuzzy)]
    assert missing == []


def test_the_compiled_catalog_matches_the_source_catalog():
    po = {
        key: e.msgstr or e.msgstr_plural
        for key, e in entries(polib.pofile(str(CATALOG / "django.po"))).items()
    }
    mo = {
        key: e.msgstr or e.msgstr_plural
        for key, e in entries(polib.mofile(str(CATALOG / "django.mo"))).items()
    }
    po.pop((None, ""), None)
    mo.pop((None, ""), None)
    assert mo == po, "run `make messages` to recompile locale/zh_Hans/LC_MESSAGES/django.mo"


def test_the_catalog_holds_every_string_marked_in_the_code(tmp_path):
    for name in SOURCES:
        source = ROOT / name
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "zh_Hans", "--no-location",
         "--no-obsolete", "--verbosity", "0"],
        cwd=tmp_path, check=True, env={"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path / "var")},
    )  # fmt: skip
    fresh = entries(polib.pofile(str(tmp_path / "locale/zh_Hans/LC_MESSAGES/django.po")))
    shipped = entries(polib.pofile(str(CATALOG / "django.po")))
    assert sorted(set(fresh) - set(shipped), key=str) == [], "run `make messages` and translate"
