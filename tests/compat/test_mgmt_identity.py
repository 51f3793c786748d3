"""The other ways unmodified azure-identity reaches the qws token service (see README "Connect")."""

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import EnvironmentCredential, ManagedIdentityCredential
from azure.mgmt.quantum import AzureQuantumMgmtClient


def get_dev_workspace(qws, credential):
    client = AzureQuantumMgmtClient(credential, qws.subscription_id, base_url=qws.https_url)
    return client.workspaces.get(qws.resource_group, qws.workspace_name)


def test_environment_credential_with_the_adfs_authority(qws, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", qws.https_url)
    monkeypatch.setenv("AZURE_TENANT_ID", "adfs")
    monkeypatch.setenv("AZURE_CLIENT_ID", qws.client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", qws.client_secret)
    ws = get_dev_workspace(qws, EnvironmentCredential())
    assert ws.name == qws.workspace_name


def test_managed_identity_endpoint(qws, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", qws.http_url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", qws.bootstrap["identityHeader"])
    ws = get_dev_workspace(qws, ManagedIdentityCredential())
    assert ws.location == qws.location


def test_managed_identity_endpoint_needs_the_identity_header(qws, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", qws.http_url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token("https://management.azure.com/.default")
