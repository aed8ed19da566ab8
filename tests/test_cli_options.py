"""The knowledge options: every command that loads knowledge has --knowledge and --data, and uses them alike."""

from __future__ import annotations

import csv
import inspect
import json
import re

import click
import pytest
from fastapi.testclient import TestClient

from conftest import write_knowledge
from fhir_fixtures import bundle, patient, request
from screener.cli import cli
from screener.cli.options import loads_knowledge

LOADS_KNOWLEDGE = {"check", "explain", "graph", "batch", "serve", "data info", "data validate", "data rules"}
"""Every command that loads knowledge: removing `knowledge_options` from one of them fails the tests below."""

SWITCHED_OFF = "carisoprodol+benzodiazepines"


def commands(group: click.Group = cli, ctx: click.Context | None = None, prefix: str = ""):
    """Every leaf command under `group`, by its full name ("data validate"), the lazy ones loaded."""
    ctx = ctx or click.Context(group, info_name="screener")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, click.Context(command, parent=ctx, info_name=name), full + " ")
        else:
            yield full, command


def test_every_command_that_loads_knowledge_has_the_knowledge_options():
    found = dict(commands())
    assert set(found) >= LOADS_KNOWLEDGE
    assert {name for name, command in found.items() if loads_knowledge(command)} == LOADS_KNOWLEDGE
    for name in LOADS_KNOWLEDGE:
        options = {opt: param for param in found[name].params for opt in param.opts}
        assert {"--knowledge", "--data"} <= set(options), name
        assert options["--data"].multiple, name
        assert "$SCREENER_DATA" in options["--data"].help, name


def test_commands_load_knowledge_only_through_the_options():
    # A command that loaded knowledge some other way would not see --knowledge, --data or $SCREENER_DATA.
    # (data validate reads the files it checks itself, base and layers, through validate_layers.)
    for name, command in commands():
        source = inspect.getsource(inspect.unwrap(command.callback))
        reads = "load_from_options(" in source or "validate_layers(" in source
        assert reads == (name in LOADS_KNOWLEDGE), name
        assert not re.search(r"\b(load_knowledge|default_knowledge|load_index)\(", source), name


@pytest.fixture
def layer(tmp_path):
    """A local layer that switches off the carisoprodol + benzodiazepine rule."""
    return write_knowledge(tmp_path / "ward", {"overrides.csv": [
        ["rule", "action", "severity", "reason", "source"],
        [SWITCHED_OFF, "off", "", "ward 7 screens this pair itself", "Ward 7 P&T 2026-03"],
    ]})


def check_rules(runner) -> set[str]:
    result = runner.invoke(cli, ["check", "Soma", "Xanax", "-f", "json"])
    assert result.exit_code in (0, 1), result.output
    return {finding["rule"] for finding in json.loads(result.stdout)["findings"]}


def batch_rules(runner, tmp_path) -> set[str]:
    source, findings = tmp_path / "patients.csv", tmp_path / "findings.csv"
    source.write_text("patient_id,medications\np1,Soma;Xanax\n", encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(source), "-o", str(findings)])
    assert result.exit_code == 0, result.output
    with findings.open(newline="", encoding="utf-8") as handle:
        return {row["rule"] for row in csv.DictReader(handle)}


def service_rules(runner, monkeypatch) -> set[str]:
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.setdefault("app", app))
    result = runner.invoke(cli, ["serve", "--insecure-no-auth"])
    assert result.exit_code == 0, result.output
    soma = request("d1", "Soma 350 mg", "2101", status="draft")
    call = {"hook": "order-sign", "hookInstance": "h1",
            "context": {"userId": "Practitioner/1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": soma}]}},
            "prefetch": {"patient": patient("p1", "1990-01-01"),
                         "medicationRequests": bundle(request("m1", "Xanax 0.5 mg"), kind="searchset"),
                         "medicationStatements": bundle(kind="searchset"), "conditions": bundle(kind="searchset"),
                         "allergies": bundle(kind="searchset")}}
    with TestClient(served["app"], base_url="http://127.0.0.1:8765") as client:
        response = client.post("/cds-services/screener-order-sign", json=call)
    assert response.status_code == 200
    return {rule.replace("\\_", "_") for card in response.json()["cards"]
            for rule in re.findall(r"\(rule (\S+), knowledge ", card["detail"])}


def test_screener_data_changes_check_batch_and_the_service_alike(runner, tmp_path, layer, monkeypatch):
    before = {"check": check_rules(runner), "batch": batch_rules(runner, tmp_path),
              "service": service_rules(runner, monkeypatch)}
    monkeypatch.setenv("SCREENER_DATA", str(layer))
    after = {"check": check_rules(runner), "batch": batch_rules(runner, tmp_path),
             "service": service_rules(runner, monkeypatch)}
    assert SWITCHED_OFF in before["check"] and SWITCHED_OFF not in after["check"]
    assert before["batch"] == before["check"] and after["batch"] == after["check"]
    # Without the specific rule the general one for carisoprodol and CNS depressants applies: the same change
    # whichever way the patient is screened.
    change = (before["check"] - after["check"], after["check"] - before["check"])
    assert change == ({SWITCHED_OFF}, {"carisoprodol+cns-depressants"})
    for way in before:
        assert (before[way] - after[way], after[way] - before[way]) == change, way


def test_data_option_and_environment_agree_for_batch(runner, tmp_path, layer, monkeypatch):
    rows = "patient_id,medications\np1,Soma;Xanax\n"
    by_option = runner.invoke(cli, ["batch", "-", "--data", str(layer)], input=rows)
    monkeypatch.setenv("SCREENER_DATA", str(layer))
    by_env = runner.invoke(cli, ["batch", "-"], input=rows)
    assert by_option.exit_code == by_env.exit_code == 0
    assert by_option.stdout == by_env.stdout and SWITCHED_OFF not in by_env.stdout


def test_the_layer_is_valid_and_listed(runner, layer, monkeypatch):
    monkeypatch.setenv("SCREENER_DATA", str(layer))
    validated = runner.invoke(cli, ["data", "validate"])
    assert (validated.exit_code, validated.stdout) == (0, "")
    assert validated.stderr.endswith(f" with layer {layer} is valid.\n")
    info = json.loads(runner.invoke(cli, ["data", "info", "-f", "json"]).stdout)
    assert [(off["rule"], off["layer"]) for off in info["disabled"]] == [(SWITCHED_OFF, "ward")]


@pytest.mark.parametrize("command", [["batch", "-"], ["serve"], ["explain", "Soma"], ["graph", "Soma"],
                                     ["data", "info"], ["data", "validate"]])
def test_a_missing_layer_is_the_same_error_everywhere(runner, tmp_path, command):
    result = runner.invoke(cli, [*command, "--data", str(tmp_path / "nope")], input="")
    if command == ["data", "validate"]:  # validation lists it as a problem of the knowledge checked
        assert (result.exit_code, result.stdout) == (1, f"{tmp_path / 'nope'}: knowledge layer not found\n")
    else:
        assert result.exit_code == 2
        assert result.stderr == f"Error: knowledge: knowledge layer not found: {tmp_path / 'nope'}\n"


def test_data_info_takes_the_base_as_directory_or_knowledge_but_not_both(runner, tiny_dir, tiny):
    by_argument = json.loads(runner.invoke(cli, ["data", "info", str(tiny_dir), "-f", "json"]).stdout)
    by_option = json.loads(runner.invoke(cli, ["data", "info", "--knowledge", str(tiny_dir), "-f", "json"]).stdout)
    assert by_argument == by_option and by_option["version"] == tiny.version
    both = runner.invoke(cli, ["data", "info", str(tiny_dir), "--knowledge", str(tiny_dir)])
    assert both.exit_code == 2
