"""Packaging for sentry-autodiag: a Sentry plugin that attaches Puppet diagnostics to new issues."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    """Single source of the version: src/sentry_autodiag/__init__.py."""
    with open(os.path.join(HERE, "src", "sentry_autodiag", "__init__.py")) as fh:
        return re.search(r'^__version__ = "([^"]+)"', fh.read(), re.M).group(1)


with open(os.path.join(HERE, "README.md")) as fh:
    LONG_DESCRIPTION = fh.read()

setup(
    name="sentry-autodiag",
    version=read_version(),
    description="Run the Puppet task diagnostics::collect on the server behind a new Sentry issue "
    "and attach the report to the issue as a note.",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    author="sentry-autodiag developers",
    license="Apache-2.0",
    url="https://github.com/sentry-autodiag/sentry-autodiag",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    python_requires=">=3.8",
    install_requires=["requests", "sentry"],
    entry_points={
        "sentry.plugins": [
            "autodiag = sentry_autodiag.plugin:AutoDiagPlugin",
        ],
    },
    classifiers=[
        "Framework :: Django",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3.8",
        "Topic :: System :: Monitoring",
    ],
)
