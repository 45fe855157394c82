"""``kubectl get`` tables from additionalPrinterColumns, and the JSONPath behind them."""

from __future__ import annotations

import aiohttp

from gpufleet_devtools.apiserver import jsonpath
from gpufleet_devtools.apiserver.tables import human_age
from tests.emulator.conftest import WIDGETS, widget

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_jsonpath_fields_indexes_and_filters() -> None:
    obj = {
        "status": {
            "conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "Ok"},
            ]
        },
        "spec": {"items": [{"n": 1}, {"n": 2}]},
    }
    assert jsonpath.find(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath.find(obj, ".status.conditions[?(@.type!='Ready')].type") == ["Synced"]
    assert jsonpath.find(obj, "{.spec.items[1].n}") == [2]
    assert jsonpath.find(obj, ".spec.items[*].n") == [1, 2]
    assert jsonpath.find(obj, ".spec.missing.deeper") == []


def test_human_age_matches_kubectl_style() -> None:
    import datetime

    now = datetime.datetime(2026, 1, 2, 0, 0, 0, tzinfo=datetime.UTC)
    assert human_age("2026-01-01T23:59:30Z", now) == "30s"
    assert human_age("2026-01-01T23:55:00Z", now) == "5m"
    assert human_age("2026-01-01T20:00:00Z", now) == "4h"
    assert human_age("2025-12-30T00:00:00Z", now) == "3d"


async def test_table_uses_printer_columns(api: aiohttp.ClientSession) -> None:
    await api.post(WIDGETS, json=widget("t1", size=4))
    await api.patch(
        f"{WIDGETS}/t1/status",
        headers=MERGE,
        json={"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    )
    await api.post(WIDGETS, json=widget("t2"))
    async with api.get(WIDGETS, headers=TABLE) as response:
        table = await response.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Ready", "Age"]
    rows = {row["cells"][0]: row["cells"] for row in table["rows"]}
    assert rows["t1"][1:3] == [4, "True"]
    assert rows["t2"][1:3] == [3, None]
    assert rows["t1"][3].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_table_for_one_builtin_object_has_name_and_age(api: aiohttp.ClientSession) -> None:
    async with api.get("/api/v1/namespaces/default", headers=TABLE) as response:
        table = await response.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert [row["cells"][0] for row in table["rows"]] == ["default"]
