"""The LLM suite's report (benchmarks/sim/llm.py) says where gpufleet's misses fall and which pod
a request goes to."""

from __future__ import annotations

from dataclasses import replace

from tests.sim import bench_scripts

llm = bench_scripts.load("llm")
SCENARIO = llm.scenarios()[0]


def run(policy: str, within: float, misses: str | None = None, knob: float | None = None) -> object:
    return llm.Run(SCENARIO.label, policy, knob, 10.0, within, 900.0, 60.0, 0, misses)


def test_the_report_says_where_gpufleets_misses_fall() -> None:
    sentence = "70 missed; half of them arrived by 95 s (of 1740 s); the worst minute"
    runs = [run("gpufleet", 0.95, sentence), run("static", 0.995, knob=30.0)]
    runs.append(run("oracle", 0.995, knob=0.3))
    report = llm.markdown([SCENARIO], runs, "cmd", 1.0)
    assert f"- {SCENARIO.label} (95.0% within): 70 missed; half of them arrived by 95 s" in report
    met = [run("gpufleet", 0.995, sentence.replace("70", "7")), *runs[1:]]
    assert "Where gpufleet's misses fall" not in llm.markdown([SCENARIO], met, "cmd", 1.0)


def test_the_report_says_which_pod_a_request_goes_to() -> None:
    runs = [run("gpufleet", 0.995), run("static", 0.995, knob=30.0), run("oracle", 0.995, knob=0.3)]
    behind_service = llm.markdown([SCENARIO], runs, "cmd", 1.0)
    assert "goes to a ready pod at random, as the ClusterIP Service" in behind_service
    gateway = replace(SCENARIO, routing="least-outstanding")
    behind_gateway = llm.markdown([gateway], runs, "cmd", 1.0)
    assert "the fewest requests outstanding, as a load-aware gateway" in behind_gateway
    assert "at random, as the ClusterIP Service" not in behind_gateway
