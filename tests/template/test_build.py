"""`sam build` packages every function and the layer for python3.13 on arm64."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python313_dir() -> str | None:
    """A directory holding python3.13: PATH first, then pyenv (without changing its selection)."""
    found = shutil.which("python3.13")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return str(Path(found).parent)
    if shutil.which("pyenv"):
        versions = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True).stdout.split()
        for version in sorted((v for v in versions if v.startswith("3.13")), reverse=True):
            prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True).stdout.strip()
            if prefix and (Path(prefix) / "bin" / "python3.13").exists():
                return str(Path(prefix) / "bin")
    return None


@pytest.mark.slow
def test_sam_build_packages_functions_and_layer_for_arm64(tmp_path):
    sam = Path(sys.executable).with_name("sam")
    if not sam.exists():
        pytest.skip("sam is not installed in this environment")
    python_dir = _python313_dir()
    if python_dir is None:
        pytest.skip("sam build needs python3.13 on PATH (or a pyenv 3.13); none on this machine")
    env = dict(os.environ, PATH=f"{python_dir}{os.pathsep}{os.environ['PATH']}", SAM_CLI_TELEMETRY="0")
    result = subprocess.run(
        [str(sam), "build", "--no-cached", "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    build = tmp_path / "build"
    layer = build / "CommonLayer" / "python"
    assert (layer / "accounts" / "repository.py").exists()
    assert (layer / "accounts" / "templates" / "verification.html").exists()
    assert (layer / "accounts" / "common_passwords.txt").exists()
    native = list(layer.glob("argon2/**/*.so")) + list(layer.glob("_argon2_cffi_bindings/*.so"))
    assert native and all("aarch64" in path.name or "abi3" in path.name for path in native)
    for function, module in [
        ("RegisterFunction", "handle_register.py"),
        ("VerifyEmailFunction", "handle_verify_email.py"),
        ("PasswordResetFunction", "handle_password_reset.py"),
        ("LoginFunction", "handle_login.py"),
        ("SessionFunction", "handle_session.py"),
        ("CleanupFunction", "handle_cleanup.py"),
        ("MailerFunction", "handle_email_jobs.py"),
        ("SigningKeyRotationFunction", "rotate_signing_key.py"),
    ]:
        assert (build / function / module).exists(), function
