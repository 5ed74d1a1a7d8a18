"""Packaging for sentry-autodiag: Puppet diagnostics on new Sentry issues, as a Sentry
plugin (installed into Sentry 23.7.1-25.4.x) or as a webhook gateway (extra `gateway`,
Python 3.11+, any Sentry from 23.7.1 on and sentry.io). The base install never pulls
`sentry`: the plugin runs inside the Sentry that is already installed."""
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
    # The local orchestrator, a development double of PE and Bolt that the tests and the demo
    # run, lives in devtools/ (package `localorch`): never in the wheel or the sdist.
    packages=find_packages("src"),
    include_package_data=True,
    python_requires=">=3.8",
    install_requires=["requests>=2.25"],
    extras_require={
        # The gateway's own processes (Python 3.11+): HTTP receiver, Celery workers, config.
        "gateway": [
            "tornado>=6.3,<7",
            "celery[redis]>=5.3,<6",
            "redis>=4.5",
            "PyYAML>=6",
            "prometheus-client>=0.17",
        ],
    },
    entry_points={
        "sentry.plugins": [
            "autodiag = sentry_autodiag.plugin:AutoDiagPlugin",
        ],
        "console_scripts": [
            "sentry-autodiag = sentry_autodiag.cli:main",
        ],
    },
    classifiers=[
        "Framework :: Django",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3.8",
        "Programming Language :: Python :: 3.11",
        "Topic :: System :: Monitoring",
    ],
)
