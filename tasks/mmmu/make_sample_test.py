"""Write ``sample_test/``: the validation sample as a test split (ids ``test_*``, answers ``?``), hub layout.

    python tasks/mmmu/make_sample_test.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for source in sorted((HERE / "sample").glob("*/validation-*.parquet")):
        table = pq.read_table(source)
        ids = [value.replace("validation_", "test_", 1) for value in table.column("id").to_pylist()]
        table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids))
        table = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(["?"] * len(ids)))
        target = HERE / "sample_test" / source.parent.name / source.name.replace("validation", "test")
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
    print(f"wrote {HERE / 'sample_test'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
