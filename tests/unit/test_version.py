"""What trained a model is recorded with it: the package version and, in a checkout, the commit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import leadscore


def test_the_version_is_written_once_and_read_by_the_build():
    pyproject = (Path(leadscore.__file__).parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "leadscore.__version__"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", leadscore.__version__)


def test_code_version_names_the_commit_of_this_checkout():
    head = subprocess.run(
        ["git", "-C", str(Path(leadscore.__file__).parent), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    version = leadscore.code_version()
    if head:  # run from a clone, as in CI
        assert version.startswith(f"{leadscore.__version__}+g{head}")
    else:  # an installed copy outside any checkout
        assert version == leadscore.__version__
