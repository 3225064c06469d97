"""What the build installs is pinned: the build backend as well as the packages."""

import tomllib

from testkit.processes import ROOT


def test_the_build_backend_is_pinned_to_one_version():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert build["requires"] and all("==" in requirement for requirement in build["requires"]), (
        build["requires"]
    )
