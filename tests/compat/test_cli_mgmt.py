"""The `qws` CLI end to end against a real server: login, account, group, workspace, keys."""

import json
import os
import re
import stat

import pytest

KEY = re.compile(r"^[A-Za-z0-9_-]{86}$")


@pytest.fixture(scope="module")
def home(qws):
    """One logged-in CLI user for this module."""
    return qws.logged_in_home()


def cli_ok(qws, home, *args):
    result = qws.cli(*args, home=home)
    assert result.returncode == 0, result
    return result


def config_of(home):
    path = home / ".config" / "qws" / "config.json"
    return path, json.loads(path.read_text())


# ---- login / account ------------------------------------------------------------------------


def test_login_from_bootstrap_stores_a_private_config(qws):
    home = qws.new_config_home()
    result = qws.cli("login", "--data-dir", qws.data_dir, "-o", "json", home=home)
    assert result.returncode == 0, result
    subs = json.loads(result.stdout)
    assert qws.subscription_id in [s["subscriptionId"] for s in subs]
    assert qws.client_secret not in result.stdout + result.stderr

    path, config = config_of(home)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert config["server"] == qws.https_url
    assert config["clientId"] == qws.client_id
    assert config["clientSecret"] == qws.client_secret
    assert config["subscription"] == qws.subscription_id
    assert config["group"] == qws.resource_group
    assert config["workspace"] == qws.workspace_name


def test_login_without_arguments_reads_dot_qws_in_the_current_directory(qws, tmp_path):
    home = qws.new_config_home()
    project = tmp_path / "project"
    project.mkdir()
    (project / ".qws").symlink_to(qws.data_dir)
    result = qws.cli("login", home=home, cwd=project)
    assert result.returncode == 0, result
    # Defaults from bootstrap.json make the workspace commands work immediately.
    shown = qws.cli("workspace", "show", "-o", "json", home=home).json()
    assert shown["name"] == qws.workspace_name


def test_login_without_a_bootstrap_file_explains_what_to_do(qws, tmp_path):
    home = qws.new_config_home()
    result = qws.cli("login", home=home, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "bootstrap.json" in result.stderr


def test_login_with_service_principal(qws):
    home = qws.new_config_home()
    result = qws.cli(
        "login", "--service-principal", "-u", qws.client_id, "-p", qws.client_secret,
        "--tenant", qws.tenant_id, "--server", qws.https_url, "--ca-file", qws.ca_file,
        home=home,
    )
    assert result.returncode == 0, result
    assert qws.subscription_id in result.stdout
    groups = qws.cli("group", "list", "-o", "json", home=home).json()
    assert qws.resource_group in [g["name"] for g in groups]


def test_login_with_wrong_secret_fails_and_stores_nothing(qws):
    home = qws.new_config_home()
    result = qws.cli(
        "login", "--service-principal", "-u", qws.client_id, "-p", "wrong-secret",
        "--tenant", qws.tenant_id, "--server", qws.https_url, "--ca-file", qws.ca_file,
        home=home,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid_client")
    assert "wrong-secret" not in result.stderr
    assert not (home / ".config" / "qws" / "config.json").exists()


def test_commands_before_login_say_so(qws):
    home = qws.new_config_home()
    result = qws.cli("workspace", "list", home=home)
    assert result.returncode == 1
    assert result.stderr == "error: not logged in: run `qws login` first\n"


def test_account_list_show_set(qws, home):
    subs = qws.cli("account", "list", "-o", "json", home=home).json()
    assert [s["subscriptionId"] for s in subs].count(qws.subscription_id) == 1
    table = cli_ok(qws, home, "account", "list").stdout.splitlines()
    assert table[0].split() == ["Name", "SubscriptionId", "State", "IsDefault"]
    assert any(qws.subscription_id in line and line.endswith("true") for line in table[2:])

    shown = qws.cli("account", "show", "-o", "json", home=home).json()
    assert shown["subscriptionId"] == qws.subscription_id

    cli_ok(qws, home, "account", "set", "--subscription", qws.subscription_id)
    missing = "11111111-2222-3333-4444-555555555555"
    result = qws.cli("account", "set", "--subscription", missing, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: SubscriptionNotFound: The subscription '{missing}'")
    assert config_of(home)[1]["subscription"] == qws.subscription_id


# ---- groups ---------------------------------------------------------------------------------


def test_group_create_list_show_delete(qws, home, unique_name):
    group = unique_name("cli-rg")
    created = qws.cli("group", "create", "-n", group, "-l", qws.location, "-o", "json", home=home).json()
    assert created["name"] == group
    assert created["location"] == qws.location

    listed = qws.cli("group", "list", "-o", "json", home=home).json()
    assert group in [g["name"] for g in listed]
    tsv = cli_ok(qws, home, "group", "list", "-o", "tsv").stdout.splitlines()
    assert f"{group}\t{qws.location}\tSucceeded" in tsv
    assert qws.cli("group", "show", "-n", group, "-o", "json", home=home).json()["name"] == group

    cli_ok(qws, home, "group", "delete", "-n", group, "--yes")
    assert group not in [g["name"] for g in qws.cli("group", "list", "-o", "json", home=home).json()]
    result = qws.cli("group", "show", "-n", group, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: ResourceGroupNotFound: Resource group '{group}' could not be found")


def test_group_delete_removes_its_workspaces(qws, home, unique_name):
    group, ws = unique_name("cli-rg"), unique_name("ws")
    cli_ok(qws, home, "group", "create", "-n", group, "-l", qws.location)
    cli_ok(qws, home, "workspace", "create", "-g", group, "-w", ws, "-l", qws.location)
    cli_ok(qws, home, "group", "delete", "-n", group)
    listed = qws.cli("workspace", "list", "-o", "json", home=home).json()
    assert ws not in [w["name"] for w in listed]


# ---- workspaces -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_group(qws, home):
    group = f"cli-ws-group"
    cli_ok(qws, home, "group", "create", "-n", group, "-l", qws.location)
    yield group
    qws.cli("group", "delete", "-n", group, home=home)


def test_workspace_create_list_show_delete(qws, home, cli_group, unique_name):
    name = unique_name("cli")
    created = qws.cli(
        "workspace", "create", "-g", cli_group, "-w", name, "-l", qws.location, "-o", "json", home=home
    ).json()
    assert created["name"] == name
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["apiKeyEnabled"] is True

    # -o json is the server's JSON, unchanged.
    shown = qws.cli("workspace", "show", "-g", cli_group, "-w", name, "-o", "json", home=home).json()
    status, _, server_json = qws.request(
        "GET", qws.workspace_path(cli_group, name) + "?api-version=2025-12-15-preview", token=qws.token()
    )
    assert status == 200
    assert shown == server_json

    table = cli_ok(qws, home, "workspace", "list", "-g", cli_group).stdout.splitlines()
    assert table[0].split() == ["Name", "ResourceGroup", "Location", "ProvisioningState", "ApiKeyEnabled", "Endpoint"]
    assert set(table[1]) <= {"-", " "}
    row = next(line.split() for line in table[2:] if line.startswith(name + " "))
    assert row[:5] == [name, cli_group, qws.location, "Succeeded", "true"]
    assert row[5] == created["properties"]["endpointUri"]

    tsv = cli_ok(qws, home, "workspace", "list", "-o", "tsv").stdout.splitlines()
    assert any(line.split("\t")[:2] == [name, cli_group] for line in tsv)
    assert not any(line.startswith("Name") for line in tsv)

    cli_ok(qws, home, "workspace", "delete", "-g", cli_group, "-w", name)
    result = qws.cli("workspace", "show", "-g", cli_group, "-w", name, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFound: ")
    assert name in result.stderr


def test_workspace_set_and_clear_defaults(qws, unique_name):
    home = qws.logged_in_home()
    result = qws.cli("workspace", "set", "-g", qws.resource_group, "-w", unique_name("nope"), home=home)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFound: ")
    assert config_of(home)[1]["workspace"] == qws.workspace_name  # unchanged by the failed set

    cli_ok(qws, home, "workspace", "clear")
    result = qws.cli("workspace", "show", home=home)
    assert result.returncode == 1
    assert "no workspace given" in result.stderr

    shown = qws.cli("workspace", "set", "-g", qws.resource_group, "-w", qws.workspace_name, "-o", "json", home=home).json()
    assert shown["name"] == qws.workspace_name
    assert qws.cli("workspace", "show", "-o", "json", home=home).json()["name"] == qws.workspace_name


def test_workspace_create_rejects_bad_names_with_the_server_error(qws, home, cli_group):
    result = qws.cli("workspace", "create", "-g", cli_group, "-w", "bad_name", "-l", qws.location, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: InvalidResourceName: The workspace name 'bad_name' is invalid: it can only include alphanumerics"
    ), result.stderr


def test_workspace_in_unknown_group(qws, home, unique_name):
    group = unique_name("nogroup")
    result = qws.cli("workspace", "create", "-g", group, "-w", unique_name("ws"), "-l", qws.location, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: ResourceGroupNotFound: Resource group '{group}' could not be found")


# ---- keys -----------------------------------------------------------------------------------


def keys_json(qws, home, target):
    return qws.cli("workspace", "keys", "list", *target, "-o", "json", home=home).json()


def test_keys_list_regenerate_disable_enable(qws, home, cli_group, unique_name):
    name = unique_name("keys")
    target = ["-g", cli_group, "-w", name]
    cli_ok(qws, home, "workspace", "create", *target, "-l", qws.location)
    # Creating, showing and listing never print a secret; only `keys list` does.
    shown = cli_ok(qws, home, "workspace", "show", *target, "-o", "json").stdout

    keys = keys_json(qws, home, target)
    assert keys["apiKeyEnabled"] is True
    primary, secondary = keys["primaryKey"]["key"], keys["secondaryKey"]["key"]
    assert KEY.match(primary) and KEY.match(secondary)
    assert primary not in shown and secondary not in shown
    assert f"WorkspaceName={name};ApiKey={primary};" in keys["primaryConnectionString"]

    table = cli_ok(qws, home, "workspace", "keys", "list", *target).stdout.splitlines()
    assert table[0].split() == ["KeyType", "ApiKeyEnabled", "CreatedAt", "Key", "ConnectionString",
                                "LastUsed", "LastUsedFrom"]
    assert table[2].split()[0] == "Primary" and primary in table[2]
    assert table[3].split()[0] == "Secondary" and secondary in table[3]
    tsv = cli_ok(qws, home, "workspace", "keys", "list", *target, "-o", "tsv").stdout.splitlines()
    assert tsv[0].split("\t")[3] == primary
    assert tsv[0].split("\t")[4] == keys["primaryConnectionString"]

    regen = cli_ok(qws, home, "workspace", "keys", "regenerate", *target, "--key-type", "Primary")
    assert regen.stdout == ""
    after = keys_json(qws, home, target)
    assert after["primaryKey"]["key"] != primary
    assert after["secondaryKey"]["key"] == secondary

    cli_ok(qws, home, "workspace", "keys", "regenerate", *target, "--key-type", "Primary,Secondary")
    both = keys_json(qws, home, target)
    assert both["primaryKey"]["key"] != after["primaryKey"]["key"]
    assert both["secondaryKey"]["key"] != secondary

    bad = qws.cli("workspace", "keys", "regenerate", *target, "--key-type", "primary", home=home)
    assert bad.returncode == 2
    assert "Primary or Secondary" in bad.stderr

    off = qws.cli("workspace", "update", *target, "--enable-api-key", "false", "-o", "json", home=home).json()
    assert off["properties"]["apiKeyEnabled"] is False
    hidden = keys_json(qws, home, target)
    assert hidden["apiKeyEnabled"] is False
    assert hidden["primaryConnectionString"] == "" and hidden["secondaryConnectionString"] == ""
    assert both["primaryKey"]["key"] not in json.dumps(hidden)

    refused = qws.cli("workspace", "keys", "regenerate", *target, "--key-type", "Secondary", home=home)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ApiKeysDisabled: Access keys are disabled for this workspace."), refused.stderr

    on = qws.cli("workspace", "update", *target, "--enable-api-key", "True", "-o", "json", home=home).json()
    assert on["properties"]["apiKeyEnabled"] is True
    restored = keys_json(qws, home, target)
    assert restored["apiKeyEnabled"] is True
    assert KEY.match(restored["primaryKey"]["key"])

    invalid = qws.cli("workspace", "update", *target, "--enable-api-key", "maybe", home=home)
    assert invalid.returncode == 2


def test_logout_forgets_the_secret_but_keeps_defaults(qws):
    home = qws.logged_in_home()
    cli_ok(qws, home, "logout")
    _, config = config_of(home)
    assert "clientSecret" not in config
    assert config["workspace"] == qws.workspace_name
    result = qws.cli("workspace", "show", home=home)
    assert result.returncode == 1
    assert "not logged in" in result.stderr


def test_workspace_create_with_providers(qws, home, cli_group, unique_name):
    name = unique_name("prov")
    created = qws.cli(
        "workspace", "create", "-g", cli_group, "-w", name, "-l", qws.location,
        "-r", "ionq/pay-as-you-go-cred, microsoft-qc/learn-and-develop", "-o", "json", home=home,
    ).json()
    providers = {(p["providerId"], p["providerSku"]) for p in created["properties"]["providers"]}
    assert {("ionq", "pay-as-you-go-cred"), ("microsoft-qc", "learn-and-develop")} <= providers

    bad = qws.cli("workspace", "create", "-g", cli_group, "-w", unique_name("prov"), "-r", "ionq", home=home)
    assert bad.returncode == 1
    assert bad.stderr == "error: invalid provider 'ionq': expected provider-id/sku\n"
    cli_ok(qws, home, "workspace", "delete", "-g", cli_group, "-w", name)
