"""Error and warning messages: words any front end can show; the CLI adds its own flags."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from sleepvit.cli import main
from sleepvit.errors import ChannelMappingError, SleepVitError
from sleepvit.io import load_study

REPO = Path(__file__).resolve().parents[1]
LIBRARY = [
    path
    for folder in ("sleepvit", "models", "rendering", "gui")
    for path in sorted((REPO / folder).rglob("*.py"))
    if path.name != "cli.py"  # the command line names its own flags
]
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
NO_EEG = json.dumps({"EEG_F": None, "EEG_C": None, "EEG_O": None})


def _messages(tree: ast.AST):
    """``(line, text)`` of every string given to an exception, a warning or a ``warn``."""
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if not (name.endswith(("Error", "Warning")) or name in {"warn", "warning"}):
            continue
        for argument in [*call.args, *(k.value for k in call.keywords)]:
            for node in ast.walk(argument):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    yield node.lineno, node.value


def test_library_messages_name_no_command_line_flags():
    found = [
        f"{path.relative_to(REPO)}:{line}: {text.strip()}"
        for path in LIBRARY
        for line, text in _messages(ast.parse(path.read_text(encoding="utf-8")))
        if FLAG.search(text)
    ]
    assert len(LIBRARY) > 50 and not found, "\n".join(found)


def test_the_error_names_the_setting_and_the_cli_its_flag(capsys, hospital_night):
    edf, _ = hospital_night
    with pytest.raises(ChannelMappingError) as refused:
        load_study(edf, channel_map=NO_EEG)
    assert refused.value.settings == ("channel_map",) and "--" not in str(refused.value)

    assert main(["inspect", str(edf), "--channel-map", NO_EEG]) == 2
    line = capsys.readouterr().err.strip()
    assert line == f"error: {refused.value} (see --channel-map)"


def test_a_setting_the_command_lacks_gets_no_hint(capsys, tmp_path):
    # simulate has --hours but no --channel-map: only the flags it has are named.
    assert main(["simulate", str(tmp_path / "night.edf"), "--hours", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("(see --hours)")
    error = SleepVitError("problem; fix", settings=("channel_map",))
    from sleepvit.cli import _build_parser, _flag_hint

    flags = _build_parser().parse_args(["simulate", "x.edf"]).flags
    assert _flag_hint(error, flags) == ""
