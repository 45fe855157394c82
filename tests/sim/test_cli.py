"""``gpufleet sim`` end to end: table, JSON, CSV, plots; seeded runs are deterministic."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.sim.cli import app
from gpufleet.sim.profile import DEFAULT_PROFILE_PATH

STEP = "synthetic:step?base=5&peak=25&at=300&duration=900"
POLICIES = ["gpufleet", "hpa", "keda", "kpa", "static", "oracle"]
LLM_POLICIES = ["gpufleet", "hpa", "keda", "kpa", "wva", "static", "oracle"]
LLM_PROFILE = DEFAULT_PROFILE_PATH.with_name("llm-default.yaml")


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_comparison_writes_table_json_csv_and_plots(tmp_path: Path) -> None:
    out = invoke(
        "--trace", STEP, "--cold-start-s", "30", "--slo-ms", "3000", "--seed", "3",
        "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv"),
        "--plot", str(tmp_path / "r.png"),
    )  # fmt: skip
    for name in POLICIES:
        assert name in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [p["policy"] for p in doc["policies"]] == POLICIES
    assert doc["command"].startswith("gpufleet sim")
    for entry in doc["policies"]:
        best = entry["best"]
        assert best["requests"] == doc["trace"]["requests"] > 0
        assert best["gpu_hours"] > 0
        assert 0 <= best["within_slo"] <= 1
        assert entry["meets_target"] == (best["within_slo"] >= 0.99)
        # Where the misses fall: each timeline interval's requests that missed the target.
        missed = sum(entry["timeline"]["missed"])
        assert missed == round(best["requests"] * (1 - best["within_slo"]))
        if entry["meets_target"]:  # the cheapest run that meets the target was picked
            meeting = [r["gpu_hours"] for r in entry["runs"] if r["within_slo"] >= 0.99]
            assert best["gpu_hours"] == min(meeting)
    # gpufleet explains every tick (the policy engineer reads these); baselines do not.
    gpufleet = doc["policies"][0]
    assert len(gpufleet["decisions"]) == 900 // 5
    assert all(d["reason"] and d["reason_code"] for d in gpufleet["decisions"])
    assert all(not p["decisions"] for p in doc["policies"][1:])
    sweeps = {p["policy"]: len(p["runs"]) for p in doc["policies"]}
    assert sweeps["gpufleet"] == 1
    assert sweeps["hpa"] > 3
    assert sweeps["static"] > 1
    with (tmp_path / "r.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == sum(sweeps.values())
    for png in ("r.png", "r-sweep.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_seeded_runs_are_deterministic(tmp_path: Path) -> None:
    def run(seed: str, name: str) -> list[dict[str, object]]:
        path = tmp_path / name
        invoke(
            "--trace", "synthetic:bursty?duration=900", "--no-sweep", "--seed", seed,
            "--cold-start-s", "uniform:30:10", "--routing", "random", "--json", str(path),
        )  # fmt: skip
        runs = [p["best"] for p in json.loads(path.read_text())["policies"]]
        for r in runs:
            r.pop("wall_s")
        return runs

    first, again, other = run("1", "a.json"), run("1", "b.json"), run("2", "c.json")
    assert first == again
    assert first != other


def test_a_policy_named_twice_runs_once(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    invoke("--trace", STEP, "--policies", "static, static", "--no-sweep", "--json", str(path))
    assert [p["policy"] for p in json.loads(path.read_text())["policies"]] == ["static"]


def test_unknown_policy_is_refused() -> None:
    result = CliRunner().invoke(app, ["--trace", STEP, "--policies", "hpa,vpa"])
    assert result.exit_code != 0
    assert "vpa" in result.output


def test_manifest_sets_slo_cold_start_gpus_price_and_ceiling(tmp_path: Path) -> None:
    manifest = tmp_path / "md.yaml"
    manifest.write_text(
        "apiVersion: gpufleet.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: m}\n"
        "spec:\n  model: {name: m, repository: 's3://b/m'}\n  slo: {latencyP95Ms: 4500}\n"
        "  cost: {maxHourlyCost: 40}\n"
        "  resources: {gpus: 2, gpuType: nvidia-a100}\n  scaling: {coldStartSeconds: 45}\n"
    )
    path = tmp_path / "m.json"
    invoke("--trace", STEP, "--manifest", str(manifest), "--policies", "static",
           "--no-sweep", "--json", str(path))  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["settings"]["slo_ms"] == 4500
    assert doc["settings"]["cold_start"]["seconds"] == 45
    best = doc["policies"][0]["best"]
    assert best["cost_usd"] == pytest.approx(best["gpu_hours"] * 3.00)  # catalog A100 price
    assert best["knob"] == 10  # sized for the peak, capped by the default maxReplicas
    assert best["gpu_hours"] == pytest.approx(doc["trace"]["duration_s"] / 3600 * 2 * 10)


def test_bad_manifest_names_the_field(tmp_path: Path) -> None:
    manifest = tmp_path / "md.yaml"
    manifest.write_text(
        "spec:\n  model: {name: m, repository: 'ftp://x'}\n"
        "  slo: {latencyP95Ms: 1}\n  cost: {maxHourlyCost: 4}\n"
    )
    result = CliRunner().invoke(app, ["--trace", STEP, "--manifest", str(manifest)])
    assert result.exit_code == 2
    assert "model.repository" in result.output


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--model-errors", "300"),
        ("--model-errors", "400:300"),
        ("--model-errors", "start:end"),
        ("--metrics-outage", "-5:10"),
    ],
)
def test_a_bad_window_is_refused_naming_the_flag(flag: str, value: str) -> None:
    result = CliRunner().invoke(app, ["--trace", STEP, flag, value])
    assert result.exit_code == 2
    assert flag in result.output
    assert "START:END" in result.output


@pytest.mark.parametrize("value", ["600", "600:0", "-1:3", "at:3", "600:2.5", "nan:3"])
def test_a_bad_node_loss_is_refused_naming_the_flag(value: str) -> None:
    result = CliRunner().invoke(app, ["--trace", STEP, "--node-loss", value])
    assert result.exit_code == 2
    assert "--node-loss" in result.output
    assert "AT:PODS" in result.output


def test_model_errors_fail_the_windows_requests(tmp_path: Path) -> None:
    path = tmp_path / "errors.json"
    invoke("--trace", STEP, "--policies", "static", "--no-sweep", "--model-errors", "600:700",
           "--json", str(path))  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["settings"]["model_errors"] == [[600.0, 700.0]]
    # 25 req/s for 100 s fail in the model; the static fleet serves the rest.
    assert 2200 <= doc["policies"][0]["best"]["failed"] <= 2800
    result = CliRunner().invoke(
        app, ["--trace", STEP, "--profile", str(LLM_PROFILE), "--model-errors", "600:700"]
    )
    assert result.exit_code == 2
    assert "model errors are modelled on request-level profiles only" in result.output


def test_an_llm_profile_runs_the_llm_baselines_against_token_targets(tmp_path: Path) -> None:
    path = tmp_path / "llm.json"
    out = invoke(
        "--trace", "synthetic:step?base=2&peak=6&at=300&duration=900",
        "--profile", str(LLM_PROFILE), "--ttft-ms", "1500", "--tpot-ms", "80",
        "--no-sweep", "--json", str(path),
    )  # fmt: skip
    assert "TTFT p95" in out
    assert "TPOT p95" in out
    assert "ITL p95" in out
    doc = json.loads(path.read_text())
    assert [p["policy"] for p in doc["policies"]] == LLM_POLICIES
    assert doc["settings"]["ttft_ms"] == 1500
    assert (doc["settings"]["tpot_ms"], doc["settings"]["itl_ms"]) == (80, None)
    for entry in doc["policies"]:
        best = entry["best"]
        assert best["ttft_p95_ms"] > 0
        assert best["tpot_p95_ms"] > 0
        assert best["itl_p95_ms"] > 0
        assert 0 <= best["within_slo"] <= 1


def test_requests_no_replica_can_hold_are_named_before_the_runs(tmp_path: Path) -> None:
    """The shipped LLM profile's KV cache holds 32,768 tokens: a request of 40,000 prompt
    tokens never runs on any fleet (vLLM refuses it), and the user is told so instead of
    finding one unexplained failure per policy."""
    trace = tmp_path / "long.csv"
    rows = ["timestamp,ContextTokens,GeneratedTokens"]
    rows += [f"{t},{40_000 if t in (10, 20) else 500},100" for t in range(60)]
    trace.write_text("\n".join(rows) + "\n")
    out = invoke("--trace", str(trace), "--profile", str(LLM_PROFILE), "--policies", "gpufleet",
                 "--no-sweep")  # fmt: skip
    text = " ".join(out.split())  # as the console wraps it
    assert "2 requests need more KV cache than one replica holds" in text
    assert "(prompt + output > 32,768 tokens): they fail on every fleet" in text


def test_an_llm_profile_without_a_gap_target_sizes_for_tpot_and_an_itl_target_replaces_it(
    tmp_path: Path,
) -> None:
    trace = "synthetic:constant?rate=2&duration=120"
    for flags, expected in (([], (100, None)), (["--itl-ms", "60"], (None, 60))):
        path = tmp_path / "gap.json"
        invoke("--trace", trace, "--profile", str(LLM_PROFILE), "--policies", "gpufleet",
               "--no-sweep", "--json", str(path), *flags)  # fmt: skip
        settings = json.loads(path.read_text())["settings"]
        assert (settings["tpot_ms"], settings["itl_ms"]) == expected, flags


def test_the_operator_runs_with_the_fleets_tick_and_scrape_interval(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    invoke("--trace", STEP, "--policies", "gpufleet", "--no-sweep", "--tick-s", "2",
           "--scrape-interval-s", "1", "--rate-window-s", "10", "--json", str(path))  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["settings"]["scrape_interval_s"] == 1
    assert len(doc["policies"][0]["decisions"]) == 900 // 2
    result = CliRunner().invoke(app, ["--trace", STEP, "--rate-window-s", "0"])
    assert result.exit_code == 2
    assert "rate_window_seconds" in result.output
    # 30 s scrapes under the default 30 s window: rate() would never have two samples.
    result = CliRunner().invoke(app, ["--trace", STEP, "--scrape-interval-s", "30"])
    assert result.exit_code == 2
    assert "--rate-window-s" in result.output
    assert "shorter than two scrape intervals" in " ".join(result.output.replace("│", "").split())


def test_millisecond_timestamps_replay_at_their_own_pace(tmp_path: Path) -> None:
    trace = tmp_path / "mooncake.jsonl"
    lines = [json.dumps({"timestamp": 250 * i, "input_length": 600, "output_length": 40})
             for i in range(2400)]  # fmt: skip
    trace.write_text("\n".join(lines) + "\n")
    path = tmp_path / "m.json"
    out = invoke("--trace", str(trace), "--time-unit", "ms", "--policies", "static",
                 "--no-sweep", "--json", str(path))  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["trace"]["duration_s"] == pytest.approx(599.75)  # 4 req/s for 10 minutes
    # What was read is said before the runs: read in seconds, the same file spans a week.
    assert "2,400 requests over 10.0 min (4 req/s on average" in " ".join(out.split())
    seconds = invoke("--trace", str(trace), "--policies", "static", "--no-sweep")
    assert "2,400 requests over 166.6 h (0.004 req/s on average" in " ".join(seconds.split())
    result = CliRunner().invoke(app, ["--trace", str(trace), "--time-unit", "min"])
    assert result.exit_code == 2
    assert "--time-unit" in result.output


def test_a_trace_it_cannot_read_is_refused_naming_the_line(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,GeneratedTokens\n1,20\n2,twenty\n")
    result = CliRunner().invoke(app, ["--trace", str(trace), "--token-sized"])
    assert result.exit_code == 2
    assert "line 3, column 'GeneratedTokens'" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # 0 was taken for "not given": the run used 3000 ms without a word.
        (["--slo-ms", "0"], "Invalid value for --slo-ms: 0: expected a number > 0"),
        (["--slo-ms", "nan"], "Invalid value for --slo-ms: nan: expected a number > 0"),
        (["--rate-scale", "inf"], "Invalid value for --rate-scale: inf: expected a number > 0"),
        (["--duration", "-60"], "Invalid value for --duration: -60: expected a number > 0"),
        (["--attainment", "2"], "--attainment (attainment_target): Input should be less than or "
         "equal to 1 (got 2.0)"),
        (["--timeout-s", "0"], "--timeout-s (request_timeout_s): Input should be greater than 0"),
        (["--initial-replicas", "-1"], "--initial-replicas (initial_replicas): Input should be "
         "greater than or equal to 0"),
        (["--cold-start-s", "inf"], "cold start 'inf': expected N, uniform:N:SPREAD or "
         "lognormal:N:SIGMA"),
        (["--json", "no/such/dir/r.json"], "Invalid value for --json: no/such/dir is not a "
         "directory"),
        (["--csv", "."], "Invalid value for --csv: . is a directory"),
        (["--plot", "r.jgp"], "Invalid value for --plot: .jgp: not an image format (avif, eps"),
        (["--seed", "-1"], "Invalid value for '--seed': Input should be greater than or "
         "equal to 0"),
        (["--trace", ""], "Invalid value for --trace: expected a file or synthetic:SHAPE"),
    ],
)  # fmt: skip
def test_a_bad_flag_is_refused_naming_it_before_any_run(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["--trace", STEP, "--policies", "static", *args])
    assert result.exit_code == 2
    output = " ".join(result.output.replace("│", "").split())
    assert message in output
    assert "requests over" not in output  # refused before the trace is read and the runs start


@pytest.mark.parametrize(
    ("flag", "name", "text", "message"),
    [
        ("--profile", "p.yaml", "a_ms: [600\nc_ms: 300\n",
         "p.yaml: line 2, column 5: expected ',' or ']', but got ':'"),
        ("--profile", "p.json", '{"a_ms": 600,\n "c_ms": }', "p.json: line 2, column 10: not JSON"),
        ("--profile", "p.yaml", "a_ms: 600\nc_ms: 300\nmax_batch: 4\nmax_queue_delay_ms: 5\n"
         "a_ms: 60\n", "p.yaml: line 5, column 1: key 'a_ms' is given twice (first at line 1)"),
        ("--profile", "p.yaml", "a_ms: .inf\nc_ms: 300\nmax_batch: 4\nmax_queue_delay_ms: 5\n",
         "p.yaml: a_ms: Input should be a finite number"),
        ("--manifest", "md.yaml", "spec: {slo: [}\n",
         "md.yaml: line 1, column 14: expected the node content, but found '}'"),
        ("--manifest", "md.yaml", "kind: ModelDeployment\napiVersion: gpufleet.io/v2\nspec: {}\n",
         "md.yaml, document 1: apiVersion 'gpufleet.io/v2': a ModelDeployment is "
         "gpufleet.io/v1alpha1"),
        ("--trace", "t.csv", None, "t.csv: No such file or directory"),
    ],
)  # fmt: skip
def test_an_input_file_it_cannot_read_is_refused_naming_where(
    tmp_path: Path, flag: str, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    trace = str(path) if flag == "--trace" else STEP
    args = ["--trace", trace, "--policies", "static", "--no-sweep"]
    if flag != "--trace":
        args += [flag, str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"{tmp_path}/{message}" in " ".join(result.output.split())


def test_a_manifest_kubectl_wrote_is_read(tmp_path: Path) -> None:
    manifest = tmp_path / "md.yaml"
    # `kubectl get modeldeployments -o yaml`: a List, the ModelDeployment among its items.
    manifest.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n"
        "- apiVersion: gpufleet.io/v1alpha1\n  kind: ModelDeployment\n  metadata: {name: m}\n"
        "  spec:\n    model: {name: m, repository: 's3://b/m'}\n    slo: {latencyP95Ms: 4500}\n"
        "    cost: {maxHourlyCost: 40}\n"
    )
    path = tmp_path / "m.json"
    invoke("--trace", STEP, "--manifest", str(manifest), "--policies", "static",
           "--no-sweep", "--json", str(path))  # fmt: skip
    assert json.loads(path.read_text())["settings"]["slo_ms"] == 4500


@pytest.mark.parametrize(
    ("flag", "name", "message"),
    [
        # A disk that fills up during the runs: it was a traceback, the results' files lost.
        ("--json", "/dev/full", "error: /dev/full: No space left on device (not written)"),
        ("--csv", "/dev/full", "error: /dev/full: No space left on device (not written)"),
    ],
)
def test_an_output_that_fails_after_the_runs_is_an_error_naming_it(
    flag: str, name: str, message: str
) -> None:
    result = CliRunner().invoke(
        app, ["--trace", STEP, "--policies", "static", "--no-sweep", flag, name]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "static" in result.stdout  # the table came first: the result is not lost
    assert not isinstance(result.exception, OSError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # ENAMETOOLONG came out of the check as a traceback.
        (["--csv", "r" * 300 + ".csv"], "File name too long"),
        # matplotlib writes r.png for r, not the r that was checked.
        (["--plot", "r"], "Invalid value for --plot: r.png is a directory"),
        # llm-d's WVA reads KV usage, which a request-level replica reports as 0.
        (["--policies", "wva"], "--policies wva: llm-d's autoscaler reads the KV cache's usage"),
    ],
)
def test_an_output_or_policy_it_cannot_use_is_refused_before_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.png").mkdir()
    result = CliRunner().invoke(app, ["--trace", STEP, "--no-sweep", "--policies", "static", *args])
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", "").split())
    assert message in said
    assert "within SLO" not in said
    assert not isinstance(result.exception, OSError)


@pytest.mark.parametrize(
    ("args", "note"),
    [
        # The default profile: a lone request waits 50 ms for a batch, then takes 600 + 300.
        (["--slo-ms", "500"], "note: the latency target 500 ms is below the fastest any request "
         "can be served (950 ms on default-llm-l4, on an idle replica): no fleet meets it"),
        (["--profile", str(LLM_PROFILE), "--tpot-ms", "20"], "note: the TPOT target 20 ms "
         "is below one decode iteration alone (31 ms on default-llm-8b-24gb): no fleet meets it"),
        (["--profile", str(LLM_PROFILE), "--itl-ms", "30"], "note: the ITL target 30 ms "
         "is below one decode iteration alone (31 ms on default-llm-8b-24gb)"),
    ],
)  # fmt: skip
def test_a_target_no_replica_can_meet_is_said_before_the_runs(args: list[str], note: str) -> None:
    out = invoke("--trace", "synthetic:constant?rate=1&duration=120", "--policies", "static",
                 "--no-sweep", *args)  # fmt: skip
    said = " ".join(out.split())
    assert note in said
    assert said.index("note:") < said.index("within")


def test_a_target_a_replica_can_meet_gets_no_note() -> None:
    out = invoke("--trace", "synthetic:constant?rate=1&duration=120", "--policies", "static",
                 "--no-sweep", "--slo-ms", "950")  # fmt: skip
    assert "note:" not in out


def test_an_llm_table_written_to_a_file_shows_each_setting_whole() -> None:
    # Not a terminal (a file, a CI log): at 140 columns it read "replicas…", "concurre…".
    out = invoke("--trace", "synthetic:constant?rate=2&duration=120", "--profile",
                 str(LLM_PROFILE), "--policies", "static,kpa", "--no-sweep")  # fmt: skip
    assert "…" not in out
    assert "│ static │ replicas=" in out
    assert "│ kpa    │ concurrency=" in out


@pytest.mark.parametrize(
    ("args", "targets"),
    [
        ([], {"ttft_ms": 800, "itl_ms": 60, "tpot_ms": None}),
        # They were ignored: the run used the manifest's 800 and 60 ms without a word.
        (["--ttft-ms", "5000", "--itl-ms", "500"], {"ttft_ms": 5000, "itl_ms": 500}),
        (["--tpot-ms", "200"], {"ttft_ms": 800, "itl_ms": 60, "tpot_ms": 200}),
        # It replaced the whole SLO, for "an LLM profile needs a token target" (exit 2).
        (["--slo-ms", "5000"], {"ttft_ms": 800, "itl_ms": 60}),
    ],
)
def test_token_flags_set_their_targets_in_an_llm_manifest(
    tmp_path: Path, args: list[str], targets: dict[str, float | None]
) -> None:
    manifest = tmp_path / "md.yaml"
    manifest.write_text(
        "apiVersion: gpufleet.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: m}\n"
        "spec:\n  model: {name: m, repository: 's3://b/m'}\n  runtime: {type: vllm}\n"
        "  slo: {ttftP95Ms: 800, itlP95Ms: 60}\n  cost: {maxHourlyCost: 40}\n"
    )
    path = tmp_path / "m.json"
    invoke("--trace", "synthetic:constant?rate=1&duration=120", "--manifest", str(manifest),
           "--profile", str(LLM_PROFILE), "--policies", "static", "--no-sweep",
           "--json", str(path), *args)  # fmt: skip
    settings = json.loads(path.read_text())["settings"]
    assert {k: settings[k] for k in targets} == targets


def test_a_manifest_whose_budget_cannot_pay_for_min_replicas_is_refused(tmp_path: Path) -> None:
    # The operator refuses it (gpufleet validate too); the simulator ran gpufleet at 0
    # replicas, every request failed, beside baselines that ignore the budget.
    manifest = tmp_path / "md.yaml"
    manifest.write_text(
        "apiVersion: gpufleet.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: m}\n"
        "spec:\n  model: {name: m, repository: 's3://b/m'}\n  slo: {latencyP95Ms: 4500}\n"
        "  cost: {maxHourlyCost: 0.1}\n  resources: {gpuType: nvidia-l4}\n"
    )
    result = CliRunner().invoke(app, ["--trace", STEP, "--manifest", str(manifest)])
    assert result.exit_code == 2
    assert (
        "error: spec.cost.maxHourlyCost: 0.1 $/h cannot afford scaling.minReplicas=1 at 0.8 $/h"
        in " ".join(result.output.split())
    )
    assert "within SLO" not in result.output


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ("5\n", "1 request over 0.0 min (all arriving at once, 0.0167 in the busiest minute)"),
        ("5\n5\n5\n", "3 requests over 0.0 min (all arriving at once, 0.05 in the busiest"),
        ("5\n65\n", "2 requests over 1.0 min (0.0333 req/s on average"),
    ],
)
def test_what_was_read_is_said_of_a_trace_of_one_instant(
    tmp_path: Path, rows: str, said: str
) -> None:
    # It read "1 requests", and "0 req/s on average" of requests that all came at once.
    trace = tmp_path / "t.csv"
    trace.write_text(rows)
    out = invoke("--trace", str(trace), "--policies", "static", "--no-sweep")
    assert f"trace: t.csv, {said}" in " ".join(out.split())


ONE_TOKEN_TRACE = "timestamp,ContextTokens,GeneratedTokens\n0,100,1\n1,100,1\n2,100,1\n"


def test_what_a_run_did_not_measure_is_null_in_json_and_a_dash_in_the_table(
    tmp_path: Path,
) -> None:
    # No request has a second token, so no gap: the ITL p95 was NaN, which strict JSON
    # parsers refuse (and the table read "nan").
    trace = tmp_path / "one-token.csv"
    trace.write_text(ONE_TOKEN_TRACE)
    path = tmp_path / "r.json"
    out = invoke("--trace", str(trace), "--profile", str(LLM_PROFILE), "--policies", "static",
                 "--no-sweep", "--json", str(path), "--csv", str(tmp_path / "r.csv"))  # fmt: skip
    assert "nan" not in out
    row = next(line for line in out.splitlines() if "│ static" in line)
    assert row.split("│")[9].strip() == "-"  # the ITL p95 column

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON")

    doc = json.loads(path.read_text(), parse_constant=refuse)
    assert doc["policies"][0]["best"]["itl_p95_ms"] is None
    assert "nan" not in (tmp_path / "r.csv").read_text()


@pytest.mark.parametrize(
    ("args", "note"),
    [
        # Ignored without a word: the run was scored on the default TTFT and TPOT targets.
        (["--profile", str(LLM_PROFILE), "--slo-ms", "500"], "note: --slo-ms 500 is ignored: "
         "an LLM profile's runs are scored on their token targets (--ttft-ms, --itl-ms, "
         "--tpot-ms)"),
        # Clamped without a word to the ceiling.
        (["--initial-replicas", "500"], "note: --initial-replicas 500 is above maxReplicas "
         "(100): the fleets start at 100"),
    ],
)  # fmt: skip
def test_a_flag_the_runs_do_not_follow_as_given_is_said(args: list[str], note: str) -> None:
    out = invoke("--trace", "synthetic:constant?rate=1&duration=120", "--policies", "static",
                 "--no-sweep", *args)  # fmt: skip
    assert note in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # It read "--rate-window-s (rate_window_seconds): Value error, 30 s is shorter than
        # two scrape intervals" and "stale_after_seconds: ...", a setting no flag sets.
        (["--scrape-interval-s", "100"], "Invalid value: --rate-window-s 30 (the default) is "
         "shorter than two scrape intervals (--scrape-interval-s 100: 200 s): rate() needs two "
         "samples in its window"),
        (["--rate-window-s", "5"], "--rate-window-s 5 is shorter than two scrape intervals "
         "(--scrape-interval-s 5 (the default): 10 s)"),
    ],
)  # fmt: skip
def test_a_rate_window_under_two_scrapes_is_refused_naming_the_flags(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["--trace", STEP, "--policies", "static", *args])
    assert result.exit_code == 2
    output = " ".join(result.output.replace("│", "").split())
    assert message in output
    assert "Value error" not in output
    assert "stale_after_seconds" not in output


def test_a_fleet_scraped_less_often_than_the_staleness_default_runs(tmp_path: Path) -> None:
    # Refused for stale_after_seconds (30 s), which no flag of gpufleet sim sets.
    path = tmp_path / "r.json"
    invoke("--trace", "synthetic:constant?rate=1&duration=120", "--policies", "gpufleet",
           "--no-sweep", "--scrape-interval-s", "40", "--rate-window-s", "80",
           "--json", str(path))  # fmt: skip
    assert json.loads(path.read_text())["settings"]["scrape_interval_s"] == 40


def test_a_synthetic_parameter_out_of_range_is_a_usage_error_naming_it() -> None:
    result = CliRunner().invoke(app, ["--trace", "synthetic:diurnal?period=0"])
    assert result.exit_code == 2
    assert "error: synthetic:diurnal: period=0: expected seconds > 0" in " ".join(
        result.output.split()
    )
    assert "lam" not in result.output
