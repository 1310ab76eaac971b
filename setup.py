"""What the package ships, beside pyproject.toml (which has everything else).

The browser code lives at the top of the repository in ``widget/`` (the widget, the
console, the admin area and whatever folder comes next). An installation gets every file
under it as the package ``chatserver.webroot``, where ``chatserver.web.widget_http``
finds it. The folders are walked here because pyproject.toml can only name them one by
one, and a folder left out of such a list ships a server without its page
(tests/browser/test_install.py builds the wheel and fetches every file the pages load).
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

WEBROOT = Path("widget")
web = {
    ".".join(("chatserver.webroot", *folder.relative_to(WEBROOT).parts)): ["*"]
    for folder in [WEBROOT, *(p for p in WEBROOT.rglob("*") if p.is_dir())]
}

setup(
    packages=[
        *find_namespace_packages(
            include=["chatserver", "chatserver.*", "retention", "retention.*"],
            exclude=["*.__pycache__"],
        ),
        *sorted(web),
    ],
    package_dir={"chatserver.webroot": str(WEBROOT)},
    package_data={
        "chatserver.storage.migrations": ["*.ini", "*.mako"],
        "chatserver.records.templates": ["*.mako"],
        "chatserver.web.pages.static": ["*"],
        **web,
    },
)
