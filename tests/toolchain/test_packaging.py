"""pyproject.toml in the form current setuptools reads without a warning: ``project.license`` as
an SPDX expression (the TOML table form is deprecated and warns on every install), which needs
setuptools 77 or newer as the build backend."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from labelshare.deployment import PROJECT_ROOT


def test_pyproject_licenceIsAnSpdxExpression_builtBySetuptools77OrNewer():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    backend = next(Requirement(r) for r in pyproject["build-system"]["requires"] if r.startswith("setuptools"))
    assert not backend.specifier.contains("76.1") and backend.specifier.contains("77.0")
