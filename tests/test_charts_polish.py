"""Chart polish in Figure.to_dict(): axes from zero, round secondary ticks, reference labels
beside their lines, readable village names on a long ranking, radar labels that do not collide."""
import pandas as pd

from dashboard import charts, metrics


def test_secondary_rate_axis_has_round_ticks_and_both_axes_start_at_zero():
    fig = charts.monthly_combo(["1月", "2月", "3月"], [("受理", [30, 34, 31], ",d")],
                               ("化解率", [0.11, 0.23, 0.34], ".1%"))
    lay = fig.to_dict()["layout"]
    assert lay["yaxis2"]["tick0"] == 0 and lay["yaxis2"]["dtick"] == 0.2 and lay["yaxis2"]["range"] == [0, 1.05]
    assert lay["yaxis2"]["tickformat"] == ".0%" and lay["yaxis"]["rangemode"] == "tozero"
    hours = charts.monthly_combo(["10月", "11月", "12月"], [("时长", [3000.0, 3056.0, 3389.5], ",.1f")],
                                 ("活动", [50, 60, 70], ",d")).to_dict()["layout"]
    assert hours["yaxis"]["rangemode"] == "tozero" and hours["yaxis2"]["rangemode"] == "tozero"


def test_township_label_sits_in_the_right_margin_not_on_the_bars():
    df = pd.DataFrame({"village": ["甲村", "乙村"], "volunteer_hours_per_100_residents": [12.0, 9.0]})
    d = charts.metric_by_village(df, "volunteer_hours_per_100_residents", 10.5, "zh").to_dict()
    [ann] = d["layout"]["annotations"]
    assert ann["text"] == "全镇 10.5"
    assert ann["x"] == 1 and ann["xref"] == "x domain" and ann["xanchor"] == "left"   # right of the plot
    assert d["layout"]["margin"]["r"] == charts.REFERENCE_MARGIN
    assert d["layout"]["yaxis"]["rangemode"] == "tozero"


def test_points_of_27_villages_are_horizontal_bars_best_on_top():
    names = [f"{c}村" for c in "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥天地玄黄宇"]
    df = pd.DataFrame({"village": names, "volunteer_points": list(range(27))})
    d = charts.metric_by_village(df, "volunteer_points", None, "zh", sort=True).to_dict()
    bar = d["data"][0]
    assert bar["orientation"] == "h" and list(bar["y"])[:2] == ["宇村", "黄村"] and list(bar["x"])[:2] == [26, 25]
    assert d["layout"]["yaxis"]["autorange"] == "reversed" and d["layout"]["height"] == 24 * 27 + 120
    assert "tickangle" not in d["layout"].get("yaxis", {})      # names level, one per row
    few = charts.metric_by_village(df.head(3), "volunteer_points", None, "zh", sort=True).to_dict()
    assert few["data"][0].get("orientation") in (None, "v")


def test_radar_labels_wrap_and_keep_clear_of_each_other():
    keys = ["resolution_rate", "resolved_within_village_rate", "suggestion_resolution_rate",
            "volunteer_hours_per_100_residents"]
    d = charts.index_radar({k: 50.0 for k in keys}, "zh").to_dict()
    theta = d["data"][0]["theta"]
    assert all(len(line) <= charts.RADAR_LINE for label in theta for line in label.split("<br>"))
    assert theta[0] == charts._wrap(metrics.METRICS["resolution_rate"].name("zh"))
    assert d["layout"]["polar"]["domain"] == {"x": [0.12, 0.88], "y": [0.08, 0.92]}
