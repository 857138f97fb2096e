"""The comparison benchmark's table: ranges over seeds, the clusters/speakers cell, the deltas."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compare_backends import Row, cell, markdown_table, prosody_effect  # noqa: E402


def test_cell_shows_one_value_or_the_range_over_seeds():
    assert cell([0.9121, 0.9124]) == "0.912"  # equal once formatted: one value
    assert cell([0.93, 0.91, 0.92]) == "0.910–0.930"
    assert cell([float("nan"), 0.5]) == "0.500"
    assert cell([]) == "-" and cell(None) == "-"
    assert cell([12, 9], "{:d}") == "9–12"


def test_markdown_table_rows_and_columns():
    rows = [Row("tc100-cut", "campp"), Row("tc100-cut", "prosody_rnn"), Row("all", "ast", note="not available offline")]
    rows[0].add(acc_given=0.97, nmi_given=0.99, acc_est=0.9, clusters=110, speakers=120, nmi_est=0.98, eer=0.01,
                speed=60.0)
    for seed_acc, k in [(0.5, 3), (0.55, 5)]:
        rows[1].add(acc_given=seed_acc, clusters=k, speakers=120, train_s=70.0)
    lines = markdown_table(rows).splitlines()
    assert len(lines) == 5
    assert len({line.count("|") for line in lines}) == 1  # every row has every column
    assert "| `campp (default)` | 0.970 | 0.990 | 0.900 | 110/120 |" in lines[2]
    assert "| 0.500–0.550 | - | - | 3–5/120 |" in lines[3] and lines[3].endswith("| 70 |")
    assert "not available offline" in lines[4]


def test_prosody_effect_is_the_difference_to_campp_per_seed():
    base, joint = Row("s", "campp"), Row("s", "joint:campp=1,prosody_rnn=0.5")
    base.add(acc_given=0.90, acc_est=0.80, eer=0.02)
    joint.add(acc_given=0.92, acc_est=0.78, eer=0.02)
    joint.add(acc_given=0.91, acc_est=0.80, eer=np.float64(0.01))
    (line,) = prosody_effect([base, Row("s", "ge2e"), joint])
    assert line == ("s, `joint:campp=1,prosody_rnn=0.5` vs `campp`: acc given +0.010–+0.020, "
                    "acc estimated -0.020–+0.000, EER -0.010–+0.000")


def test_prosody_effect_prints_no_negative_zero():
    base, joint = Row("s", "campp"), Row("s", "joint:campp=1,mfcc=0.3")
    base.add(acc_given=0.9, acc_est=0.9, eer=0.0110)
    joint.add(acc_given=0.9, acc_est=0.9, eer=0.0109)
    (line,) = prosody_effect([base, joint])
    assert line.endswith("EER +0.000")
