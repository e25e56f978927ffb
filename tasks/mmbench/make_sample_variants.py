"""Write the sample data of the MMBench variants from the English sample (``sample/``), in their official files.

    python tasks/mmbench/make_sample_variants.py

* ``sample_cn/mmbench_dev_cn_20231003.tsv``: the same two questions (and circular copies) in Chinese, the
  layout of LLaVA-1.5's ``mmbench_dev_cn_20231003.tsv``.
* ``sample_en_v11/MMBench_DEV_EN_V11.tsv``: the English rows in VLMEvalKit's compact form (a circular copy's
  ``image`` cell holds the index of the row whose image it shares).
* ``sample_test_en/``, ``sample_test_cn/``: the English / Chinese rows as a test split (no ``answer`` column,
  ``split`` = test).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
CN = {
    "Which shape is shown in the image?": "图中是什么形状？",
    "What color is the light that is on?": "亮着的灯是什么颜色？",
    "The picture shows a traffic light at a crossing.": "图片显示了十字路口的红绿灯。",
    "circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形", "red": "红色", "green": "绿色",
}


def main() -> int:
    table = pd.read_csv(HERE / "sample" / "mmbench_dev_20230712.tsv", sep="\t", keep_default_na=False)
    cn = table.copy()
    for column in ("question", "hint", "A", "B", "C", "D"):
        cn[column] = [CN.get(value, value) for value in cn[column]]
    (HERE / "sample_cn").mkdir(exist_ok=True)
    cn.to_csv(HERE / "sample_cn" / "mmbench_dev_cn_20231003.tsv", sep="\t", index=False)
    v11 = table.copy()
    v11["image"] = [str(index % 1_000_000) if index >= 1_000_000 else image
                    for index, image in zip(v11["index"], v11["image"])]
    (HERE / "sample_en_v11").mkdir(exist_ok=True)
    v11.to_csv(HERE / "sample_en_v11" / "MMBench_DEV_EN_V11.tsv", sep="\t", index=False)
    for name, frame in (("en", table), ("cn", cn)):
        test = frame.drop(columns=["answer"]).assign(split="test")
        (HERE / f"sample_test_{name}").mkdir(exist_ok=True)
        test.to_csv(HERE / f"sample_test_{name}" / f"mmbench_test_{name}_20231003.tsv", sep="\t", index=False)
    print(f"wrote {HERE / 'sample_cn'}, {HERE / 'sample_en_v11'}, {HERE / 'sample_test_en'}, {HERE / 'sample_test_cn'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
