"""`make test` as CI runs it: the suite spread over parallel workers, the slowest tests and every
skip's reason in the summary; the scheduling hints in tests/conftest.py name modules that exist
(a stale name would silently stop counting)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess

from labelshare.deployment import PROJECT_ROOT


def _root_conftest():
    """tests/conftest.py by its path (several conftest modules share the name "conftest")."""
    spec = importlib.util.spec_from_file_location("root_conftest", PROJECT_ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _test_command(**variables: str) -> list[str]:
    """The pytest command `make test` would run (make -n: nothing is run)."""
    args = ["make", "--no-print-directory", "-n", "test", *(f"{k}={v}" for k, v in variables.items())]
    printed = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    return shlex.split(next(line for line in printed.splitlines() if line.startswith("ape test")))


def test_makeTest_runsOnParallelWorkers_showsSlowestTestsAndSkipReasons():
    command = _test_command()
    workers = int(command[command.index("-n") + 1])
    assert workers == 2 * os.cpu_count()
    assert command[command.index("--dist") + 1] == "loadgroup" and "--no-loadscope-reorder" in command
    assert any(arg.startswith("--durations=") for arg in command) and "-rs" in command
    single = _test_command(TEST_WORKERS="0")
    assert single[single.index("-n") + 1] == "0"


def test_schedulingHints_nameModulesThatExist():
    conftest = _root_conftest()
    for module in (*conftest.LONGEST_FIRST, *conftest.ONE_WORKER):
        assert (PROJECT_ROOT / module).is_file(), module
    assert len(set(conftest.LONGEST_FIRST)) == len(conftest.LONGEST_FIRST)
