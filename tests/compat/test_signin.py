"""User sign-in with unmodified azure-identity: `UsernamePasswordCredential` and
`DeviceCodeCredential` against the qws token service, the device flow completed by posting the
verification page's form (with its CSRF token and cookie) from a thread, as a person would.

Users are created with `qws ad user create` (the administration CLI).
"""

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
import uuid

import pytest

PASSWORD = "Corr3ct-Horse!"
# The Azure CLI's public client id, as `az login` sends it.
AZ_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
ARM = "https://management.azure.com/.default"


@pytest.fixture(scope="module")
def user(qws):
    """A new user's principal name, created through the administration CLI."""
    upn = f"compat-{uuid.uuid4().hex[:8]}@qws.test"
    home = qws.logged_in_home()
    result = qws.cli(
        "ad", "user", "create",
        "--display-name", "Compat User",
        "--user-principal-name", upn,
        "--password", PASSWORD,
        home=home,
    )
    assert result.returncode == 0, result
    return upn


def _claims(token: str) -> dict:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_username_password_credential(qws, user):
    from azure.identity import UsernamePasswordCredential

    # "adfs": MSAL's user realm look-up before a password grant would drop the port of the
    # authority; the ADFS form skips it.
    cred = UsernamePasswordCredential(
        AZ_CLI, user, PASSWORD, tenant_id="adfs", authority=qws.https_url,
        disable_instance_discovery=True,
    )
    token = cred.get_token(ARM).token
    claims = _claims(token)
    assert claims["idtyp"] == "user"
    assert claims["upn"] == user
    # A second resource comes from the refresh token.
    quantum = cred.get_token("https://quantum.microsoft.com/.default").token
    assert _claims(quantum)["aud"] == "https://quantum.microsoft.com"


def test_username_password_credential_wrong_password(qws, user):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import UsernamePasswordCredential

    cred = UsernamePasswordCredential(
        AZ_CLI, user, "Wrong-pass1", tenant_id="adfs", authority=qws.https_url,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS50126"):
        cred.get_token(ARM)


def _complete_device_flow(qws, verification_uri, user_code, errors):
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=qws.ssl_context()),
            urllib.request.HTTPCookieProcessor(jar),
        )
        html = opener.open(verification_uri, timeout=60).read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        form = urllib.parse.urlencode({
            "csrf": csrf, "user_code": user_code, "username": errors["user"],
            "password": PASSWORD, "action": "approve",
        }).encode()
        assert opener.open(verification_uri, form, timeout=60).status == 200
    except Exception as e:  # reported by the test thread
        errors["error"] = e


def test_device_code_credential(qws, user):
    from azure.identity import DeviceCodeCredential

    state = {"user": user}
    threads = []

    def prompt(verification_uri, user_code, expires_on):
        assert verification_uri == f"{qws.https_url}/devicelogin"
        t = threading.Thread(target=_complete_device_flow, args=(qws, verification_uri, user_code, state))
        t.start()
        threads.append(t)

    cred = DeviceCodeCredential(
        AZ_CLI, tenant_id=qws.tenant_id, authority=qws.https_url,
        disable_instance_discovery=True, prompt_callback=prompt, timeout=120,
    )
    token = cred.get_token(ARM).token
    for t in threads:
        t.join()
    assert "error" not in state, state.get("error")
    claims = _claims(token)
    assert claims["idtyp"] == "user"
    assert claims["upn"] == user
