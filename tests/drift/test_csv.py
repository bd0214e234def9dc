"""CSV snapshots: streamed with pyarrow's reader, typed from the reference or --schema."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from drift import DriftInputError, profile_file, profile_parquet, scan
from drift.cli import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK, main
from drift.csv_source import CsvSource


@pytest.fixture
def frames():
    rng = np.random.default_rng(3)
    n = 20_000
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n).round(2),
            "items": rng.integers(1, 9, n),
            "city": rng.choice(["berlin", "paris", "rome"], n),
            "code": rng.choice(["1", "2", "3"], n),
        }
    )
    cur = ref.assign(amount=ref["amount"] * 1.4)
    return ref, cur


@pytest.fixture
def csv_pair(frames, tmp_path):
    ref, cur = frames
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path / "ref.csv", tmp_path / "cur.csv"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_scan_equals_parquet_scan(frames, csv_pair, tmp_path):
    ref, cur = frames
    # The CSV reader reads integers as float64 and "1","2" codes as numbers unless told:
    # the Parquet twin is written with the types the CSV is read with.
    types = {"items": "float64", "code": "int64"}
    ref.astype(types).to_parquet(tmp_path / "ref.parquet", index=False)
    cur.astype(types).to_parquet(tmp_path / "cur.parquet", index=False)
    csv_report = scan(*csv_pair)
    parquet_report = scan(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    drop = {"message"}
    assert [
        {k: v for k, v in r.as_dict().items() if k not in drop} for r in csv_report.features
    ] == [{k: v for k, v in r.as_dict().items() if k not in drop} for r in parquet_report.features]
    assert csv_report.features[0].drift_ratio == pytest.approx(0.4, rel=1e-6)


def test_gzip_csv_is_read_by_its_name(csv_pair, tmp_path):
    ref, cur = csv_pair
    packed = tmp_path / "cur.csv.gz"
    packed.write_bytes(gzip.compress(cur.read_bytes()))
    assert scan(ref, packed).as_dict()["features"] == scan(ref, cur).as_dict()["features"]


def test_current_csv_takes_the_reference_types(tmp_path):
    """A code column that looks numeric in the current file stays a category."""
    (tmp_path / "ref.csv").write_text("code\nA1\nB2\n" + "A1\n" * 50)
    (tmp_path / "cur.csv").write_text("code\n1\n2\n" + "1\n" * 50)
    result = scan(tmp_path / "ref.csv", tmp_path / "cur.csv").features[0]
    assert result.kind == "categorical"
    assert result.status.value != "error"
    assert result.unseen_share == 1.0


def test_schema_option_types_columns(csv_pair, tmp_path, capsys):
    ref, cur = csv_pair
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"code": "string", "items": "int64"}))
    code, out, _ = run(capsys, "scan", ref, cur, "--schema", schema, "--format", "json")
    assert code == EXIT_OK
    kinds = {f["feature"]: f["kind"] for f in json.loads(out)["features"]}
    assert kinds["code"] == "categorical"
    assert profile_file(ref, types={"items": pa_int64()}).columns["items"].dtype == "int64"


def pa_int64():
    import pyarrow as pa

    return pa.int64()


def test_profile_command_reads_csv(csv_pair, tmp_path, capsys):
    ref, cur = csv_pair
    out_path = tmp_path / "ref.json"
    code, _, err = run(capsys, "profile", ref, "-o", out_path)
    assert code == EXIT_OK
    assert "20,000 rows × 4 columns" in err
    code, out, _ = run(capsys, "scan", out_path, cur, "--format", "json", "--fail-on", "critical")
    assert code == EXIT_DRIFT
    assert json.loads(out)["features"][0]["status"] == "critical"


def assert_one_line_error(err, fragment):
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("drift: error: ")
    assert fragment in err


def test_a_ragged_row_is_one_line_error(csv_pair, tmp_path, capsys):
    ref, _ = csv_pair
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("amount,items,city,code\n1,2,rome,1\n3,4,rome,1,9\n")
    code, out, err = run(capsys, "scan", ref, ragged)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert_one_line_error(err, "Expected 4 columns, got 5")


def test_a_ragged_row_deep_in_the_stream_is_an_input_error(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("a,b\n" + "1,2\n" * 5_000 + "3,4,5\n")
    source = CsvSource(path, block_bytes=1 << 10)  # many blocks: the bad row is not in the first
    expected = r"late.csv: not a readable CSV file \(CSV parse error: Expected 2 columns"
    with pytest.raises(DriftInputError, match=expected):
        list(source.row_groups(["a", "b"]))


def test_a_value_that_does_not_fit_its_type_names_the_fix(tmp_path):
    path = tmp_path / "typed.csv"
    path.write_text("a\n" + "1\n" * 5_000 + "x\n")
    with pytest.raises(DriftInputError, match="give the types with --schema"):
        profile_file(path, types={"a": pa_int64()})


@pytest.mark.parametrize(
    ("schema_text", "fragment"),
    [
        ('{"code": "strng"}', "column code: unknown column type 'strng'"),
        ('["code"]', "expected a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_schema_files_are_one_line_errors(csv_pair, tmp_path, capsys, schema_text, fragment):
    ref, cur = csv_pair
    schema = tmp_path / "schema.json"
    schema.write_text(schema_text)
    code, _, err = run(capsys, "scan", ref, cur, "--schema", schema)
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, fragment)


def test_missing_csv_and_directory_are_input_errors(tmp_path, capsys):
    code, _, err = run(capsys, "profile", tmp_path / "nope.csv", "-o", tmp_path / "p.json")
    assert code == EXIT_BAD_INPUT
    assert_one_line_error(err, "no such file")
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(DriftInputError, match="is a directory"):
        CsvSource(folder)


def test_csv_and_parquet_profiles_agree_on_floats(tmp_path):
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=5_000)})
    frame.to_csv(tmp_path / "x.csv", index=False, float_format="%.17g")
    frame.to_parquet(tmp_path / "x.parquet", index=False)
    a = profile_file(tmp_path / "x.csv").columns["x"]
    b = profile_parquet(tmp_path / "x.parquet").columns["x"]
    assert a == b


def test_progress_total_is_unknown_for_csv_and_known_for_parquet(frames, csv_pair, tmp_path):
    ref, _ = frames
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    totals: list[int] = []
    scan(tmp_path / "ref.parquet", csv_pair[1], on_start=totals.append)
    scan(tmp_path / "ref.parquet", tmp_path / "ref.parquet", on_start=totals.append)
    assert totals == [0, 2 * len(ref)]
