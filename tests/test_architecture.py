"""The architecture table (Figure 8): measured from the models, consistent with their parameter counts."""

from __future__ import annotations

import pandas as pd
import pytest

from ablate.analysis.architecture import RESNETS, architecture_table, model_rows, write_architecture_table
from ablate.training.models import build_model, parameter_count

STAGE_ORDER = ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "head", "total"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return architecture_table()


def row(table: pd.DataFrame, model: str, stage: str) -> pd.Series:
    rows = table[(table["model"] == model) & (table["stage"] == stage)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_one_row_per_stage_and_a_total_per_model(table):
    assert list(table.columns[:4]) == ["model", "stage", "output_size", "kernels"]
    assert {"parameters", "mflops", "macs", "layers"} <= set(table.columns)
    for name in RESNETS:
        assert table[table["model"] == name]["stage"].tolist() == STAGE_ORDER


@pytest.mark.parametrize("name", RESNETS)
def test_stage_parameters_sum_to_the_model_count(table, name):
    rows = table[table["model"] == name].set_index("stage")
    expected = parameter_count(build_model(name))
    assert rows.drop(index="total")["parameters"].sum() == expected
    assert rows.loc["total", "parameters"] == expected
    assert rows.loc["total", "macs"] == rows.drop(index="total")["macs"].sum()
    assert rows.loc["total", "layers"] == int(name.removeprefix("resnet"))  # 18 weighted layers, etc.


def test_resnet18_output_sizes(table):
    sizes = {stage: row(table, "resnet18", stage)["output_size"] for stage in STAGE_ORDER}
    assert sizes == {
        "conv1": "32×32×64",
        "conv2_x": "32×32×64",
        "conv3_x": "16×16×128",
        "conv4_x": "8×8×256",
        "conv5_x": "4×4×512",
        "head": "10",
        "total": "10",
    }


def test_kernel_specifications(table):
    assert row(table, "resnet18", "conv1")["kernels"] == "3×3, 64, stride 1"
    assert row(table, "resnet18", "conv2_x")["kernels"] == "[3×3, 64 / 3×3, 64] × 2"
    assert row(table, "resnet34", "conv4_x")["kernels"] == "[3×3, 256 / 3×3, 256] × 6"
    bottleneck = row(table, "resnet50", "conv2_x")["kernels"]
    for part in ("1×1, 64", "3×3, 64", "1×1, 256", "× 3"):
        assert part in bottleneck
    assert row(table, "resnet152", "conv4_x")["kernels"].endswith("× 36")
    assert row(table, "resnet101", "head")["kernels"] == "avg pool, 10-d fc"


def test_macs_match_a_hand_count_and_grow_with_depth(table):
    # the stem: 32×32 outputs × 64 channels × (3 in-channels × 3 × 3) multiply-accumulates
    assert row(table, "resnet18", "conv1")["macs"] == 32 * 32 * 64 * 3 * 3 * 3 == 1_769_472
    assert row(table, "resnet18", "conv1")["mflops"] == pytest.approx(1.769472)
    assert row(table, "resnet18", "head")["macs"] == 512 * 10  # fc only: pooling is not counted
    # conv2_x of resnet18: four 3×3 convs, 64 -> 64, at 32×32, no projection shortcut
    assert row(table, "resnet18", "conv2_x")["macs"] == 4 * 32 * 32 * 64 * 64 * 9
    totals = [row(table, name, "total")["macs"] for name in RESNETS]
    assert totals == sorted(totals) and len(set(totals)) == len(totals)


def test_the_meta_forward_pass_measures_what_a_real_one_does():
    assert model_rows("resnet18", device="meta") == model_rows("resnet18", device="cpu")


def test_width_and_image_size_are_measured_not_assumed():
    rows = {r["stage"]: r for r in model_rows("resnet50", image_size=64, width=0.25)}
    assert rows["conv2_x"]["output_size"] == "64×64×64"  # 16 planes × expansion 4
    assert rows["conv5_x"]["output_size"] == "8×8×512"
    assert rows["conv2_x"]["kernels"] == "[1×1, 16 / 3×3, 16 / 1×1, 64] × 3"
    assert rows["total"]["parameters"] == parameter_count(build_model("resnet50", width=0.25))


def test_models_without_stages_are_refused():
    with pytest.raises(ValueError, match="ResNets only"):
        architecture_table(["vgg_a"])


def test_the_csv_round_trips(tmp_path):
    out = tmp_path / "tables" / "architecture.csv"
    written = write_architecture_table(out, names=["resnet18"])
    read = pd.read_csv(out, encoding="utf-8", keep_default_na=False)
    assert read["output_size"].tolist() == written["output_size"].tolist()
    assert read["parameters"].tolist() == written["parameters"].tolist()
