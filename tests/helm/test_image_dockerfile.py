"""The Dockerfile and .dockerignore: read statically, and built where an image builder can run."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their bases resolved through the ARG defaults declared before the first FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--platform")]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m[1] or m[2]], words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _tag(image: str) -> str:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_parser_reads_continuations_and_args() -> None:
    parsed = parse_dockerfile(
        "ARG B=python:3.11-slim\nFROM ${B} AS x\nRUN a \\\n  # note\n  && b\nFROM $B\nUSER 1\n"
    )
    assert [(s.base, s.name) for s in parsed] == [("python:3.11-slim", "x"), ("python:3.11-slim", None)]
    assert parsed[0].args("RUN") == ["a && b"]


def test_build_is_multi_stage_on_pinned_bases(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        tag = _tag(stage.base)
        assert tag, f"{stage.base} is not pinned"
        assert tag != "latest", stage.base
    assert stages[-1].base == "python:3.11-slim"


def test_final_stage_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.args("USER")
    assert users, "the final stage never leaves root"
    user = users[-1].split(":", 1)[0]
    assert user.isdigit(), "runAsNonRoot can only verify a numeric user"
    assert int(user) != 0
    keywords = [kw for kw, _ in final.instructions]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "nothing may run as root after the switch"


BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|make|build-essential|clang|cargo|rustc|apt-get install|pip install)\b"
)
DEV_TOOLS = re.compile(r"\[dev\]|\bpytest\b|\bmypy\b|\bruff\b")


def test_final_stage_has_no_build_or_dev_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    for command in final.args("RUN"):
        assert not BUILD_TOOLS.search(command), command
    for stage in stages:
        for command in stage.args("RUN"):
            assert not DEV_TOOLS.search(command), command
    builder = stages[0].name
    copies = final.args("COPY")
    assert any(f"--from={builder} /opt/venv /opt/venv" in c for c in copies), copies
    # from the build context the final stage takes the policies alone: the source tree and anything
    # else stay in the builder, the gateway arrives installed in the environment
    from_context = [c for c in copies if "--from" not in c]
    assert from_context
    assert all(c.split()[-2:] == ["policies", "/app/policies"] for c in from_context), from_context


def test_policies_and_entry_point(stages: list[Stage]) -> None:
    final = stages[-1]
    assert any(c.split()[-2:] == ["policies", "/app/policies"] for c in final.args("COPY"))
    assert final.args("WORKDIR")[-1] == "/app"
    (entrypoint,) = final.args("ENTRYPOINT")
    assert entrypoint == '["gateway"]'
    (cmd,) = final.args("CMD")
    # the chart runs `gateway db upgrade` and `gateway witness serve` by replacing CMD alone, so the
    # entry point stays the bare command and serving is only the default
    assert cmd.startswith('["serve", "--config"')


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        regex = fnmatch.translate(body).replace(".*.*/", "(.*/)?")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_keys_databases_and_dev_files_out() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".git/config",
        ".demo/ledger.db",
        "keys/private/token.pem",
        "keys/private/secrets/commitment.key",
        "clients.yaml",
        "tests/conftest.py",
        "bench/query_bench.py",
        "helm/credit-gateway/values.yaml",
        "gateway/__pycache__/cli.cpython-311.pyc",
        "policies/ledger.db",
    ):
        assert _ignored(path, patterns), path
    for path in ("pyproject.toml", "README.md", "gateway/cli.py", "policies/gateway/query.rego"):
        assert not _ignored(path, patterns), path


def _image_builder() -> list[str] | None:
    for tool in ("buildah", "podman"):
        if shutil.which(tool):
            return [tool]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        return [docker]
    return None


@pytest.mark.skipif(
    _image_builder() is None, reason="no image builder can run here (buildah, podman, or a docker daemon)"
)
def test_image_builds_and_runs_the_cli(tmp_path: Path) -> None:
    builder = _image_builder()
    assert builder is not None
    tag = "localhost/credit-gateway:test"
    build = [*builder, "bud" if builder[0].endswith("buildah") else "build", "-t", tag, str(ROOT)]
    subprocess.run(build, check=True, timeout=1800)
    runner = ["podman"] if builder[0].endswith("buildah") and shutil.which("podman") else builder
    if runner[0].endswith("buildah"):
        pytest.skip("buildah built the image, but nothing here can run it")
    result = subprocess.run(
        [*runner, "run", "--rm", "--read-only", tag, "--help"], capture_output=True, text=True, check=True
    )
    assert "serve" in result.stdout
    user = subprocess.run(
        [*runner, "image", "inspect", "--format", "{{.Config.User}}", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shlex.split(user.stdout)[0].split(":")[0] == "10001"
