"""The documentation in docs/ stays true to the code.

- docs/cli.md is exactly what docs/gen_cli.py makes of the click commands, so a
  command or option added without regenerating it fails here;
- every key config.py accepts has a row in docs/configuration.md, and no row
  documents a key it does not accept;
- every complete feeds.toml example in the docs loads without error or warning;
- links between the docs point at files and headings that exist;
- shell completion, as docs/deployment.md tells users to set it up, prints a script.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import click
import pytest

import feedhub.config as config_module
from feedhub.cli import main
from feedhub.config import OUTPUT_KEYS, RULE_KEYS, SETTINGS_KEYS, SOURCE_KEYS, build_config
from tests.conftest import REPO

DOCS = REPO / "docs"
REGENERATE = "python docs/gen_cli.py > docs/cli.md"
# Where the complete examples are loaded from: the offline example's folder, so the
# tutorial's local sources (feeds/*.xml) resolve as they do for a reader.
EXAMPLE_PATH = REPO / "examples" / "offline" / "docs-example.toml"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- docs/cli.md ----------------------------------------------------------------


def test_cli_reference_is_generated_from_the_current_commands() -> None:
    expected = load_generator().render()
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == expected, f"docs/cli.md is out of date: run `{REGENERATE}`"


def test_gen_cli_check_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = load_generator()
    target = tmp_path / "cli.md"
    target.write_text(generator.render(), encoding="utf-8")
    assert generator.main(["--check"], target=target) == 0
    target.write_text("# stale\n", encoding="utf-8")
    assert generator.main(["--check"], target=target) == 1
    assert REGENERATE in capsys.readouterr().err


def visible_commands(
    command: click.Command, path: str = "feedhub"
) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                found += visible_commands(sub, f"{path} {name}")
    return found


def sections(markdown: str, level: str = "## ") -> dict[str, str]:
    """Heading text -> the text up to the next heading of the same level."""
    parts = re.split(rf"^{re.escape(level)}(.+)$", markdown, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_command_and_option_is_in_cli_reference() -> None:
    by_heading = sections((DOCS / "cli.md").read_text(encoding="utf-8"))
    missing = []
    for path, command in visible_commands(main):
        section = by_heading.get(f"`{path}`")
        if section is None:
            missing.append(path)
            continue
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                missing += [
                    f"{path} {o}" for o in param.opts + param.secondary_opts if o not in section
                ]
            elif isinstance(param, click.Argument) and param.human_readable_name not in section:
                missing.append(f"{path} {param.human_readable_name}")
    assert not missing, f"undocumented in docs/cli.md (run `{REGENERATE}`): {missing}"


# --- docs/configuration.md ------------------------------------------------------

CONFIG_SECTIONS = {
    "`[settings]`": SETTINGS_KEYS,
    "`[[sources]]`": SOURCE_KEYS,
    "`[[outputs]]`": OUTPUT_KEYS,
    "`[[outputs.rules]]`": RULE_KEYS,
    # Retention keys, where config.py has them.
    "`keep` (retention)": getattr(config_module, "KEEP_KEYS", None),
}


def key_table_rows(section: str) -> set[str]:
    """The `key` in the first cell of each row of the section's "| Key |" tables."""
    keys: set[str] = set()
    in_table = False
    for line in section.splitlines():
        if line.startswith("| Key |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and (m := re.match(r"^\|\s*`([^`]+)`\s*\|", line)):
            keys.add(m.group(1))
    return keys


@pytest.mark.parametrize("heading", [h for h, keys in CONFIG_SECTIONS.items() if keys])
def test_every_config_key_is_documented(heading: str) -> None:
    accepted = CONFIG_SECTIONS[heading]
    assert accepted is not None
    by_heading = sections((DOCS / "configuration.md").read_text(encoding="utf-8"))
    assert heading in by_heading, f"docs/configuration.md has no '## {heading}' section"
    documented = key_table_rows(by_heading[heading])
    assert not set(accepted) - documented, f"keys missing from the {heading} table"
    assert not documented - set(accepted), f"{heading} documents keys config.py does not accept"


# --- TOML examples --------------------------------------------------------------

FENCE = re.compile(r"^```(toml(?: partial)?)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def toml_blocks() -> list[tuple[str, str, str]]:
    """(id, info string, text) of each ```toml block in docs/*.md."""
    blocks = []
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            blocks.append((f"{doc.name}:{line}", m.group(1), m.group(2)))
    return blocks


def test_the_tutorial_and_reference_have_complete_toml_examples() -> None:
    complete = {block_id.split(":")[0] for block_id, info, _ in toml_blocks() if info == "toml"}
    assert {"tutorial.md", "configuration.md"} <= complete


@pytest.mark.parametrize(
    ("info", "text"), [b[1:] for b in toml_blocks()], ids=[b[0] for b in toml_blocks()]
)
def test_toml_example_loads(info: str, text: str) -> None:
    data = tomllib.loads(text)  # partial snippets too must be valid TOML
    if info == "toml":  # a whole feeds.toml: the real loader accepts it, without warnings
        config = build_config(EXAMPLE_PATH, data, text)
        assert config.warnings == ()


# --- links ----------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_docs_resolve() -> None:
    anchors = {
        doc.name: {
            github_anchor(h)
            for h in re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.MULTILINE)
        }
        for doc in DOCS.glob("*.md")
    }
    broken = []
    for doc in sorted(DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # an external URL
            name, _, fragment = target.partition("#")
            name = name or doc.name
            if "/" in name:  # a file elsewhere in the repository, e.g. ../bench/README.md
                if not (doc.parent / name).exists():
                    broken.append(f"{doc.name}: {target}")
                continue
            if name not in anchors or (fragment and fragment not in anchors[name]):
                broken.append(f"{doc.name}: {target}")
    assert not broken


# --- shell completion -------------------------------------------------------------


def feedhub_program() -> str:
    beside_python = Path(sys.executable).with_name("feedhub")
    found = str(beside_python) if beside_python.exists() else shutil.which("feedhub")
    assert found, "the feedhub entry point is not installed (pip install -e .)"
    return found


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _feedhub_completion feedhub"),
        ("zsh", "#compdef feedhub"),
        ("fish", "complete --no-files --command feedhub"),
    ],
)
def test_shell_completion_prints_a_script(shell: str, marker: str) -> None:
    result = subprocess.run(
        [feedhub_program()],
        env={**os.environ, "_FEEDHUB_COMPLETE": f"{shell}_source"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_FEEDHUB_COMPLETE" in result.stdout  # the script calls back into feedhub
