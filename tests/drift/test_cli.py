"""The ``drift`` command as people and scripts meet it: exit codes, output, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from drift.cli import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK, main
from drift.thresholds import MEASURES

FEATURE_KEYS = {
    "feature",
    "kind",
    "status",
    "psi",
    "drift_ratio",
    "mean_shift_std",
    "js_distance",
    "missing_share_delta",
    "unseen_share",
    "message",
    "schema_break",
}


@pytest.fixture
def pair(write_parquet):
    rng = np.random.default_rng(11)
    n = 20_000
    ref = {"age": rng.normal(40, 10, n), "city": rng.choice(["a", "b", "c"], n)}
    cur = {"age": rng.normal(46, 10, n), "city": rng.choice(["a", "b", "c", "d"], n)}
    return (
        write_parquet("ref.parquet", ref, row_group_size=5_000),
        write_parquet("cur.parquet", cur, row_group_size=5_000),
    )


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err, fragment):
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("drift: error: ")
    assert fragment in err


def test_scan_json_shape_and_summary(capsys, pair):
    code, out, err = run(capsys, "scan", *pair, "--format", "json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["binning"] == "quantile"
    assert doc["reference"].endswith("ref.parquet")
    assert [f["feature"] for f in doc["features"]] == ["age", "city"]
    for feature in doc["features"]:
        assert set(feature) == FEATURE_KEYS
    age, city = doc["features"]
    assert age["status"] == "critical"  # a 0.6 σ shift
    assert age["psi"] > 0.25
    assert city["unseen_share"] == pytest.approx(0.25, abs=0.02)
    assert doc["summary"]["critical"] == 2
    assert doc["summary"]["rows_current"] == 20_000
    assert err == ""  # no progress bar off a terminal


def test_fail_on_sets_exit_code(capsys, pair):
    assert run(capsys, "scan", *pair, "--fail-on", "critical")[0] == EXIT_DRIFT
    same = (pair[0], pair[0])
    assert run(capsys, "scan", *same, "--fail-on", "warn")[0] == EXIT_OK


def test_fail_on_fails_on_a_schema_break_too(capsys, write_parquet):
    rng = np.random.default_rng(3)
    ref = write_parquet("ref.parquet", {"age": rng.normal(40, 10, 1000), "city": ["a"] * 1000})
    cur = write_parquet("cur.parquet", {"age": rng.normal(40, 10, 1000)})  # city vanished
    code, out, _ = run(capsys, "scan", ref, cur, "--format", "json", "--fail-on", "critical")
    assert code == EXIT_DRIFT
    city = next(f for f in json.loads(out)["features"] if f["feature"] == "city")
    assert (city["status"], city["schema_break"]) == ("error", "missing")
    assert run(capsys, "scan", ref, cur)[0] == EXIT_OK  # without --fail-on: reported, exit 0


def test_profile_then_scan_against_saved_profile(capsys, pair, tmp_path):
    profile = tmp_path / "reference.json"
    code, _, err = run(capsys, "profile", pair[0], "-o", profile, "--bins", "5")
    assert code == EXIT_OK
    assert "profiled 20,000 rows × 2 columns" in err
    saved = json.loads(profile.read_text())
    assert saved["format_version"] == 1
    assert saved["n_bins"] == 5
    assert len(saved["columns"]["age"]["bins"]["counts"]) == 5
    code, out, _ = run(capsys, "scan", profile, pair[1], "--format", "json")
    from_profile = json.loads(out)
    code2, out2, _ = run(capsys, "scan", *pair, "--format", "json", "--bins", "5")
    direct = json.loads(out2)
    assert code == code2 == EXIT_OK
    assert from_profile["n_bins"] == 5
    assert from_profile["features"] == direct["features"]


def test_table_output_for_people(capsys, pair):
    code, out, _ = run(capsys, "scan", *pair, "--columns", "age")
    assert code == EXIT_OK
    assert "age" in out
    assert "critical" in out
    assert "city" not in out
    assert "1 features: 0 ok, 0 warn, 1 critical, 0 error" in out


def test_thresholds_file_overrides_levels(capsys, pair, tmp_path):
    lenient = tmp_path / "thresholds.json"
    big = {"warn": 100, "critical": 200}
    lenient.write_text(json.dumps({"defaults": {m: big for m in MEASURES}}))
    code, out, _ = run(
        capsys, "scan", *pair, "--thresholds", lenient, "--format", "json", "--fail-on", "warn"
    )
    assert code == EXIT_OK
    assert {f["status"] for f in json.loads(out)["features"]} == {"ok"}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["scan", "{tmp}/nope.parquet", "{cur}"], "nope.parquet: no such file"),
        (["scan", "{ref}", "{tmp}/text.txt"], "not a readable Parquet file"),
        (["scan", "{tmp}/text.txt", "{cur}"], "not a valid driftwatch profile"),
        (["scan", "{tmp}/broken.json", "{cur}"], "not a valid driftwatch profile"),
        (
            ["scan", "{ref}", "{cur}", "--columns", "age,zzz"],
            "unknown column(s) in both files: zzz",
        ),
        (["scan", "{ref}", "{cur}", "--bins", "1"], "--bins"),
        (["scan", "{ref}", "{cur}", "--binning", "magic"], "--binning"),
        (["scan", "{ref}"], "Missing argument"),
        (["profile", "{ref}", "-o", "{tmp}/no/such/dir/p.json"], "cannot write profile"),
        (["profile", "{ref}", "-o", "{tmp}/p.json", "--binning", "evidently"], "--binning"),
        (["profile", "{ref}", "-o", "{tmp}/p.json", "--columns", "age,,city"], "empty column"),
        (["scan", "{ref}", "{cur}", "--thresholds", "{tmp}/text.txt"], "invalid thresholds"),
        (
            ["scan", "{ref}", "{cur}", "--thresholds", "{tmp}/calibrate.json"],
            "calibrate needs a rolling reference window",
        ),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, pair, tmp_path, argv, fragment):
    (tmp_path / "text.txt").write_text("hello, not parquet\n")
    (tmp_path / "broken.json").write_text('{"format": "driftwatch-profile", "rows": 3, "colu')
    (tmp_path / "calibrate.json").write_text('{"calibrate": true}')
    subs = {"tmp": tmp_path, "ref": pair[0], "cur": pair[1]}
    code, out, err = run(capsys, *[a.format(**subs) for a in argv])
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert_one_line_error(err, fragment)


def test_evidently_binning_needs_reference_parquet(capsys, pair, tmp_path):
    run(capsys, "profile", pair[0], "-o", tmp_path / "p.json")
    code, _, err = run(capsys, "scan", tmp_path / "p.json", pair[1], "--binning", "evidently")
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "give the reference Parquet file")


def test_progress_bar_only_on_a_terminal_for_long_scans(monkeypatch):
    from drift import cli_output

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli_output._progress(10_000_000) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli_output._progress(10) is None
    assert cli_output._progress(cli_output.LONG_SCAN_ROWS) is not None


def test_console_script_and_module_entry_points(pair):
    for command in (["drift"], [sys.executable, "-m", "drift"]):
        if command == ["drift"]:
            command = [str(__import__("pathlib").Path(sys.executable).with_name("drift"))]
        done = subprocess.run(
            [*command, "scan", *map(str, pair), "--fail-on", "warn"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == EXIT_DRIFT, done.stderr
        assert "critical" in done.stdout
        bad = subprocess.run(
            [*command, "scan", "missing.parquet", str(pair[1])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert bad.returncode == EXIT_BAD_INPUT
        assert bad.stderr.strip() == "drift: error: missing.parquet: no such file"


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_parquet_is_a_clean_error(capsys, pair, tmp_path, keep):
    data = pair[1].read_bytes()
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(data[: int(len(data) * keep)])  # starts with PAR1, footer cut off
    code, _, err = run(capsys, "scan", pair[0], broken)
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "broken.parquet: not a readable Parquet file")


@pytest.fixture
def day_folder(tmp_path):
    """A day written in parts, the way Spark or Dagster leave it: a ``date=…`` folder of Parquet
    files (one nested), a CSV part and a ``_SUCCESS`` marker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    folder = tmp_path / "shop" / "date=2026-11-10"
    (folder / "late").mkdir(parents=True)
    parts = []
    for n, where in enumerate([folder / "part-0.parquet", folder / "late" / "part-1.parquet"]):
        part = pa.table(
            {"age": rng.normal(40 + n, 10, 3_000), "city": rng.choice(["a", "b"], 3_000)}
        )
        pq.write_table(part, where)
        parts.append(part)
    (folder / "_SUCCESS").write_text("")
    csv_part = pa.table({"age": rng.normal(40, 10, 1_000), "city": rng.choice(["a", "b"], 1_000)})
    csv_part.to_pandas().to_csv(folder / "part-2.csv", index=False)
    return folder, pa.concat_tables([*parts, csv_part])


def test_profile_and_scan_take_a_directory_and_a_glob(capsys, tmp_path, day_folder, pair):
    folder, whole = day_folder
    code, _, err = run(capsys, "profile", folder, "-o", tmp_path / "day.json")
    assert code == EXIT_OK, err
    assert "profiled 7,000 rows" in err  # both Parquet parts and the CSV one; no _SUCCESS
    day = json.loads((tmp_path / "day.json").read_text())
    assert day["rows"] == whole.num_rows
    pattern = str(tmp_path / "shop" / "date=*" / "**" / "*.parquet")
    code, out, err = run(capsys, "scan", pair[0], pattern, "--format", "json")
    assert code == EXIT_OK, err
    assert json.loads(out)["summary"]["rows_current"] == 6_000  # the two Parquet parts
    code, out, err = run(capsys, "scan", folder, folder, "--format", "json")
    assert code == EXIT_OK, err
    assert {f["status"] for f in json.loads(out)["features"]} == {"ok"}


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("{tmp}/empty", "no Parquet or CSV files under this directory"),
        ("{tmp}/nothing/*.parquet", "no Parquet or CSV file matches"),
        ("{tmp}/missing.parquet", "no such file"),
    ],
)
def test_an_empty_directory_or_glob_is_one_line_error(capsys, tmp_path, pair, target, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    path = target.format(tmp=tmp_path)
    code, _, err = run(capsys, "scan", pair[0], path)
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, fragment)


@pytest.fixture
def segmented(write_parquet):
    """Ages shifted in one country only (30 % of the rows)."""
    rng = np.random.default_rng(12)
    n = 30_000

    def side(shift):
        country = rng.choice(["DE", "FR", "US"], n, p=[0.5, 0.3, 0.2])
        age = rng.normal(40, 8, n) + np.where(country == "FR", shift, 0.0)
        return {"age": age, "country": country, "app": rng.integers(1, 4, n)}

    return (
        write_parquet("seg_ref.parquet", side(0.0), row_group_size=10_000),
        write_parquet("seg_cur.parquet", side(12.0), row_group_size=10_000),
    )


def test_segment_by_adds_hints_to_json_and_a_where_column(capsys, segmented, monkeypatch):
    code, out, _ = run(
        capsys, "scan", *segmented, "--segment-by", "country,app", "--format", "json"
    )
    assert code == EXIT_OK
    age = json.loads(out)["features"][0]
    assert age["feature"] == "age"
    top = age["segments"][0]
    assert set(top) == {
        "column",
        "value",
        "share_reference",
        "share_current",
        "psi_within",
        "explained",
        "kind",
        "hidden",
    }
    assert (top["column"], top["value"], top["kind"]) == ("country", "FR", "within")
    assert top["explained"] > 0.9
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "scan", *segmented, "--segment-by", "country")
    assert "where" in out
    assert "mostly country=FR: " in out and " % of the shift" in out


def test_a_profile_saved_with_segments_brings_them_to_the_scan(capsys, segmented, tmp_path):
    saved = tmp_path / "ref.json"
    code, _, err = run(
        capsys,
        "profile",
        segmented[0],
        "-o",
        saved,
        "--segment-by",
        "country",
        "--segment-top-k",
        "2",
    )
    assert code == EXIT_OK, err
    code, out, _ = run(capsys, "scan", saved, segmented[1], "--format", "json")
    hints = json.loads(out)["features"][0]["segments"]
    assert {h["value"] for h in hints} == {"DE", "FR", "OTHER"}
    code, _, err = run(capsys, "scan", saved, segmented[1], "--segment-by", "app")
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "the saved reference profile has segments by country")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--segment-by", "age"], "segment_by: column age is double"),
        (["--segment-by", "nope"], "segment_by: unknown column nope"),
        (["--segment-by", "country,"], "--segment-by"),
        (["--segment-by", "country", "--segment-top-k", "0"], "--segment-top-k"),
    ],
)
def test_bad_segment_options_are_one_line_errors(capsys, segmented, argv, fragment):
    code, _, err = run(capsys, "scan", *segmented, *argv)
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, fragment)


@pytest.fixture
def joined(write_parquet):
    """b follows a in the reference; in the current b was joined to the wrong rows."""
    rng = np.random.default_rng(13)
    n = 40_000

    def side(shuffled):
        a = rng.normal(0, 1, n)
        b = 0.9 * a + rng.normal(0, 0.4, n)
        if shuffled:
            b = rng.permutation(b)
        return {"a": a, "b": b, "c": rng.normal(3, 1, n)}

    return (
        write_parquet("mv_ref.parquet", side(False), row_group_size=10_000),
        write_parquet("mv_cur.parquet", side(True), row_group_size=10_000),
    )


def test_multivariate_flags_a_broken_join_no_column_shows(capsys, joined, tmp_path):
    code, out, _ = run(capsys, "scan", *joined, "--multivariate", "--format", "json",
                       "--fail-on", "critical")  # fmt: skip
    doc = json.loads(out)
    assert {f["status"] for f in doc["features"]} == {"ok"}
    block = doc["multivariate"]
    assert set(block) >= {"status", "reconstruction_error", "reference_mean", "reference_std",
                          "warn", "critical", "top_columns"}  # fmt: skip
    assert block["status"] == "critical" and code == EXIT_DRIFT
    assert block["reconstruction_error"] > block["critical"] > block["warn"]
    assert set(block["top_columns"][:2]) == {"a", "b"}
    code, out, _ = run(capsys, "scan", joined[0], joined[0], "--multivariate", "--format", "json")
    assert json.loads(out)["multivariate"]["status"] == "ok" and code == EXIT_OK
    saved = tmp_path / "mv.json"
    assert run(capsys, "profile", joined[0], "-o", saved, "--multivariate")[0] == EXIT_OK
    code, out, _ = run(capsys, "scan", saved, joined[1])
    assert "multivariate: critical — reconstruction error" in out
    assert "grew most in" in out


def test_multivariate_against_a_profile_without_it_is_a_one_line_error(capsys, pair, tmp_path):
    saved = tmp_path / "plain.json"
    assert run(capsys, "profile", pair[0], "-o", saved)[0] == EXIT_OK
    code, _, err = run(capsys, "scan", saved, pair[1], "--multivariate")
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "the saved reference profile has no multivariate moments")
    code, _, err = run(capsys, "scan", pair[0], pair[1], "--multivariate", "--columns", "age")
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "needs at least two numeric or categorical columns")
