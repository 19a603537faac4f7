"""Hostile CLI arguments and TOML configs, fuzzed: the configuration is either accepted
(every value validated) or refused with ConfigError / a usage error; ``gradstep`` itself
prints one line and exits 2, never a traceback. Plus: nothing in src/ uses pickle.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradstep import cli
from gradstep.errors import ConfigError

from ._fuzz import fuzz_settings

OPTIONS = ["--" + n.replace("_", "-") for n in cli.TRAIN_OPTIONS] + ["--bogus", "-v", "-q"]
VALUES = st.one_of(
    st.sampled_from(["0", "1", "-1", "1e309", "nan", "inf", "-inf", "0.5", "full", "none",
                     "mlp:16", "mlp:0", "mlp:-3", "cnn", "linear:3", "mlp:a,b",
                     "mlp:8:dropout=2", "csv:", "csv:/nonexistent.csv", "../../../etc/passwd",
                     "step:2:0.5", "cosine", "plateau:x", "adam", "sgd", "99999999999999999999",
                     "", " ", "\x00", "1_0", "0x10", "digits", "mnist", "--epochs"]),
    st.text(max_size=8),
)


def _resolve(argv: list[str]) -> Any:
    parser = cli.build_parser()
    try:
        args = parser.parse_args(argv)
        return cli.resolve_train_config(args)
    except (ConfigError, cli._UsageError) as exc:
        assert str(exc)
        return exc


@fuzz_settings(300)
@given(pairs=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), max_size=5))
def test_hostile_train_arguments(pairs: list[tuple[str, str]]) -> None:
    argv = ["train"] + [x for kv in pairs for x in kv]
    cfg = _resolve(argv)
    if isinstance(cfg, dict):
        assert isinstance(cfg["epochs"], int) and cfg["epochs"] >= 1
        assert cfg["lr"] > 0 and cfg["lr"] < float("inf")


TOML_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(f), repr(f))),
    st.sampled_from(["true", "false", '"adam"', '"mlp:16"', '"full"', "[1, 2]", "{a = 1}",
                     '"../x"', '"csv:/nonexistent"', "1979-05-27", '"\\u0000"', "[]"]),
    st.text(max_size=8).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
)


@fuzz_settings(250)
@given(lines=st.lists(st.tuples(st.sampled_from(list(cli.TRAIN_OPTIONS) + ["config", "bogus",
                                                                           "train"]),
                                TOML_VALUES), max_size=6),
       section=st.booleans(), garbage=st.sampled_from(["", "[[x]]", "= 1", "a = ", "\x00"]))
def test_hostile_toml_configs(tmp_path: Path, lines: list[tuple[str, str]], section: bool,
                              garbage: str) -> None:
    body = "".join(f"{k.replace('_', '-')} = {v}\n" for k, v in lines)
    text = ("[train]\n" if section else "") + body + garbage
    p = tmp_path / "run.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    _resolve(["train", "--config", str(p)])


@fuzz_settings(40)
@given(blob=st.binary(max_size=200))
def test_random_bytes_as_toml(tmp_path: Path, blob: bytes) -> None:
    p = tmp_path / "b.toml"
    p.write_bytes(blob)
    _resolve(["train", "--config", str(p)])


@pytest.mark.parametrize("argv", [
    ["train", "--epochs", "0"], ["train", "--lr", "nan"], ["train", "--dataset", "csv:/no/such"],
    ["train", "--config", "/no/such.toml"], ["train", "--model", "mlp:0"],
    ["evaluate", "/no/such.safetensors"], ["predict", "/no/such.safetensors", "/no/x.npy"],
    ["train", "--bogus"], ["frobnicate"],
])
def test_gradstep_refuses_bad_input_with_one_line(argv: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    assert code == 2
    text = err.getvalue().strip()
    assert text and "\n" not in text and "Traceback" not in text, text


def test_gradstep_evaluate_refuses_a_hostile_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "evil.safetensors"
    p.write_bytes(b"\xff" * 8 + b"{}")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["evaluate", str(p)]) == 2
    assert "evil.safetensors" in err.getvalue() and "header" in err.getvalue()


# --------------------------------------------------------------------------- no pickle

SRC = Path(__file__).resolve().parents[2] / "src" / "gradstep"
FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve|marshal)\b", re.M), "pickle import"),
    (re.compile(r"allow_pickle\s*=\s*True"), "allow_pickle=True"),
    (re.compile(r"\btorch\.load\s*\("), "torch.load"),
    (re.compile(r"\bpickle\.loads?\s*\("), "pickle.load"),
    (re.compile(r"\bnp\.load\s*\((?![^)]*allow_pickle\s*=\s*False)"), "np.load without allow_pickle=False"),
    (re.compile(r"(?<![.\w])(?<!def )(eval|exec)\s*\("), "eval/exec"),
]


def _code_only(text: str) -> str:
    """``text`` with string literals and comments blanked (same lines), so that a docstring
    mentioning ``torch.load`` is not a hit but a call is."""
    import io
    import tokenize

    lines = text.splitlines(keepends=True)
    out = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            row = out[r - 1]
            lo = c0 if r == r0 else 0
            hi = c1 if r == r1 else len(row)
            for c in range(lo, hi):
                if row[c] != "\n":
                    row[c] = " "
        if tok.type == tokenize.COMMENT and "noqa: reliability" in tok.string:
            out[r0 - 1].extend(" # noqa: reliability")
    return "".join("".join(row) for row in out)


def test_code_only_blanks_strings_and_comments() -> None:
    code = 'x = 1  # torch.load(f)\n"""torch.load(f)"""\ny = torch.load(f)\n'
    blanked = _code_only(code)
    assert blanked.count("torch.load(") == 1 and blanked.splitlines()[2] == "y = torch.load(f)"


def test_nothing_in_src_unpickles_or_evaluates() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    hits = []
    for f in files:
        text = _code_only(f.read_text(encoding="utf-8"))
        for pattern, what in FORBIDDEN:
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                src_line = text.splitlines()[line - 1]
                if "noqa: reliability" not in src_line:
                    hits.append(f"{f.relative_to(SRC)}:{line}: {what}: {src_line.strip()}")
    assert not hits, "\n".join(hits)
