"""The CLI as a user meets it: its version, and defaults in every subcommand's help."""

import re
import subprocess

import pytest

from stockwise import version
from stockwise.cli import main


def test_version_names_the_package_and_the_commit(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    sha = subprocess.run(
        ["git", "-C", str(version.ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    )
    assert re.fullmatch(rf"stockwise \d+\.\d+\.\d+\S* \(code {sha.stdout.strip()}(\+dirty)?\)", out), out


def test_an_image_build_names_its_commit_and_a_copy_without_git_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("STOCKWISE_CODE_VERSION", "1a2b3c4d5e6f")
    assert version.code_version() == "1a2b3c4d5e6f"
    monkeypatch.delenv("STOCKWISE_CODE_VERSION")
    assert version._git(tmp_path) is None  # not a checkout: the package version stands in
    monkeypatch.setattr(version, "ROOT", tmp_path)
    assert version.code_version() == version.package_version()


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("demo-erp", "(default: 200)"),
        ("backtest", "(default: 3)"),
        ("predict", "(default: 3)"),
        ("plan", "the run's logical date"),  # what-ifs default to nothing: no "(default: None)"
    ],
)
def test_every_subcommand_lists_its_own_options_with_defaults(capsys, command, shown):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert shown in text
    assert "--skus" not in text or command == "demo-erp"  # only its own options
    assert "(default: None)" not in text and "(default: all) (default" not in text  # no empty or doubled defaults


def test_every_option_of_every_subcommand_says_what_it_does():
    import argparse

    from stockwise.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(a.option_strings)}"
        for name, parser in sub.choices.items()
        for a in parser._actions
        if a.option_strings and a.dest != "help" and not (a.help or "").strip()
    ]
    assert not missing, missing
