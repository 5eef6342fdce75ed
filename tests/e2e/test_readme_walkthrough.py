"""The README's walk-through, run as a reader would paste it: the shell block(s) marked
`<!-- walkthrough -->` run with `bash -euo pipefail` against a local server (API= its base URL), so
the README cannot rot: a step that fails (an error answer, an email that never comes, a final
expectation unmet) fails this test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
MARKED_BLOCK = re.compile(r"^<!-- walkthrough -->\s*\n```(?:sh|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def walkthrough(text: str) -> str:
    blocks = MARKED_BLOCK.findall(text)
    assert blocks, "README.md has no ```sh block marked <!-- walkthrough -->"
    return "\n".join(blocks)


def run(script: str, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        # The interpreter running the tests first on PATH: its python3 has pyotp (the second walk-through).
        env={**os.environ, "API": base_url,
             "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_walkthrough_runs_as_pasted(local_server: str) -> None:
    result = run(walkthrough(README.read_text(encoding="utf-8")), local_server)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert '"access_token"' in result.stdout  # the login answer was shown
    assert "GET /v1/auth/me after logout: 401" in result.stdout
    assert "amr: pwd otp" in result.stdout  # the second walk-through: a login with a TOTP code
    assert result.stdout.rstrip().endswith("Bearer")  # ... and one with a recovery code


@pytest.mark.parametrize(
    ("step", "broken"),
    [
        ("/v1/auth/verify-email", "/v1/auth/verify-emails"),  # an error answer
        ("&wait=10", "X&wait=1"),  # an email that never comes
        ("= 401", "= 200"),  # a final expectation unmet
    ],
)
def test_a_broken_step_fails_the_walkthrough(local_server: str, step: str, broken: str) -> None:
    script = walkthrough(README.read_text(encoding="utf-8"))
    assert step in script
    result = run(script.replace(step, broken, 1), local_server)
    assert result.returncode != 0, result.stdout
