"""The portal in a real browser (Debian's Chromium through Playwright) against a real `qws serve`.

Controls are found by the accessible names the portal promises (role + name), not by layout."""

import re
import uuid

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.quantum import Workspace
from playwright.sync_api import expect

from conftest import ARM_API, axe_check, screenshot, sign_in

BELL = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}
NAV = ["Overview", "Access Keys", "Providers", "Job management", "Quotas", "Access control (IAM)", "Activity log"]


def key_client(server, name, key):
    return Workspace(
        subscription_id=server.sub,
        resource_group="qws",
        name=name,
        location="eastus",
        credential=AzureKeyCredential(key),
        _quantum_endpoint=server.http_url + "/",
    )


def ws_url(server, name, blade, rg="qws"):
    return f"/portal/ws/{server.sub}/{rg}/{name}/{blade}"


def confirm(page):
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Yes").click()


def test_sign_in_and_sign_out(page, server):
    page.goto("/portal/")
    # Signing in is the token service's authorization-code flow with PKCE.
    expect(page).to_have_url(re.compile(r"/oauth2/v2\.0/authorize\?.*code_challenge_method=S256"))
    axe_check(page)
    screenshot(page, "signin")
    sign_in(page, server.b["adminUser"], server.b["adminPassword"])
    expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="dev", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto("/portal/")
    expect(page).to_have_url(re.compile(r"/oauth2/v2\.0/authorize\?"))


def test_wrong_password_is_refused(page, server):
    sign_in(page, server.b["adminUser"], "Not-the-passw0rd")
    expect(page.get_by_role("alert")).to_contain_text("Your account or password is incorrect.")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-qws-portal"]
    axe_check(page)


def test_plain_http_sends_browsers_to_the_portal(page, server):
    page.goto(server.http_url + "/")
    expect(page).to_have_url(re.compile(r"^https://.*/oauth2/v2\.0/authorize\?"))


def test_create_a_workspace(admin, server):
    page = admin
    page.get_by_role("link", name="Create a workspace").click()
    expect(page.get_by_role("heading", name="Create a workspace")).to_be_visible()
    page.get_by_label("Resource group").fill("portal-rg")
    status = page.locator("#c-name-status")
    name = f"pw{uuid.uuid4().hex[:8]}"
    page.get_by_label("Workspace name").fill(name)
    expect(status).to_have_text("The name is available.")
    page.get_by_label("Region").select_option("westus")
    axe_check(page)
    screenshot(page, "create-workspace")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name=f"{name} · Overview")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The workspace was created.")
    code, ws = server.arm("GET", server.ws_id("portal-rg", name))
    assert code == 200 and ws["location"] == "westus"
    assert ws["properties"]["providers"], "the offerings' providers were added"


def essentials(page, label):
    return page.locator(f"dd[aria-labelledby='e-{label.lower().replace(' ', '-')}']").inner_text().strip()


def test_essentials_equal_the_arm_get(admin, server):
    page = admin
    page.goto(ws_url(server, "dev", "overview"))
    for link in NAV:
        expect(page.get_by_role("link", name=link, exact=True)).to_be_visible()
    _, ws = server.arm("GET", server.ws_id("qws", "dev"))
    _, sub = server.arm("GET", f"/subscriptions/{server.sub}", api=ARM_API)
    props = ws["properties"]
    assert essentials(page, "Resource group") == "qws"
    assert essentials(page, "Status") == props["provisioningState"]
    assert essentials(page, "Location") == ws["location"]
    assert essentials(page, "Subscription") == sub["displayName"]
    assert essentials(page, "Subscription ID") == server.sub
    assert essentials(page, "Endpoint URI") == props["endpointUri"]
    assert essentials(page, "Storage account") == (props.get("storageAccount") or "None")
    assert essentials(page, "Providers") == ", ".join(p["providerId"] for p in props["providers"])
    axe_check(page)
    screenshot(page, "overview")


def test_tags_are_editable(admin, server):
    page = admin
    server.create_workspace("tagged")
    page.goto(ws_url(server, "tagged", "overview"))
    page.get_by_role("textbox", name=re.compile("^Tags")).fill("team=quantum\ncost-center=42")
    page.get_by_role("button", name="Save tags").click()
    expect(page.get_by_role("status")).to_contain_text("The tags were saved.")
    _, ws = server.arm("GET", server.ws_id("qws", "tagged"))
    assert ws["tags"] == {"team": "quantum", "cost-center": "42"}


def test_disable_keys_refuses_key_clients_and_enable_restores_them(admin, server):
    page = admin
    server.create_workspace("keyswitch")
    keys = server.list_keys("keyswitch")
    client = key_client(server, "keyswitch", keys["primaryKey"]["key"])
    assert client.get_targets(name="ionq.simulator").name == "ionq.simulator"
    page.goto(ws_url(server, "keyswitch", "keys"))
    switch = page.get_by_role("switch", name="Enable access keys")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    confirm(page)
    expect(page.get_by_role("switch", name="Enable access keys")).to_have_attribute("aria-checked", "false")
    with pytest.raises(ClientAuthenticationError):
        key_client(server, "keyswitch", keys["primaryKey"]["key"]).get_targets()
    page.get_by_role("switch", name="Enable access keys").click()
    confirm(page)
    expect(page.get_by_role("switch", name="Enable access keys")).to_have_attribute("aria-checked", "true")
    assert key_client(server, "keyswitch", keys["primaryKey"]["key"]).get_targets(name="ionq.simulator")


def test_regenerate_primary_refuses_the_old_key_and_secondary_still_works(admin, server):
    page = admin
    server.create_workspace("regen")
    keys = server.list_keys("regen")
    old_primary, secondary = keys["primaryKey"]["key"], keys["secondaryKey"]["key"]
    page.goto(ws_url(server, "regen", "keys"))
    page.get_by_role("button", name="Regenerate primary key").click()
    expect(page.get_by_role("dialog")).to_contain_text("stop working at once")
    confirm(page)
    expect(page.get_by_role("status").first).to_contain_text("The primary key was regenerated.")
    with pytest.raises(ClientAuthenticationError):
        key_client(server, "regen", old_primary).get_targets()
    assert key_client(server, "regen", secondary).get_targets(name="ionq.simulator")
    assert server.list_keys("regen")["primaryKey"]["key"] != old_primary


def test_keys_are_masked_shown_on_request_and_copied_exactly(browser, server):
    ctx = browser.new_context(ignore_https_errors=True, base_url=server.https_url)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.https_url)
    page = ctx.new_page()
    try:
        sign_in(page, server.b["adminUser"], server.b["adminPassword"])
        server.create_workspace("copyme")
        keys = server.list_keys("copyme")
        page.goto(ws_url(server, "copyme", "keys"))
        for label in ["Primary key", "Secondary key", "Primary connection string", "Secondary connection string"]:
            field = page.get_by_label(label, exact=True)
            expect(field).to_have_attribute("type", "password")
            expect(field).to_have_value("")
        for name in ["Copy primary key", "Copy secondary key", "Copy primary connection string",
                     "Copy secondary connection string", "Show primary key", "Show secondary key",
                     "Regenerate primary key", "Regenerate secondary key"]:
            expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
        axe_check(page)
        screenshot(page, "access-keys")
        page.get_by_role("button", name="Show primary key").click()
        expect(page.get_by_label("Primary key", exact=True)).to_have_value(keys["primaryKey"]["key"])
        page.get_by_role("button", name="Copy primary connection string").click()
        expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == keys["primaryConnectionString"]
        page.get_by_role("button", name="Copy secondary key").click()
        page.wait_for_function("async () => (await navigator.clipboard.readText()) !== %r" % copied)
        assert page.evaluate("() => navigator.clipboard.readText()") == keys["secondaryKey"]["key"]
    finally:
        ctx.close()


def test_a_job_submitted_with_the_sdk_appears_with_its_histogram(admin, server):
    page = admin
    client = key_client(server, "dev", server.list_keys("dev")["primaryKey"]["key"])
    job = client.get_targets(name="ionq.simulator").submit(BELL, name="portal-bell", shots=100)
    job.wait_until_completed(timeout_secs=300)
    page.goto(ws_url(server, "dev", "jobs"))
    page.get_by_label("Name starts with").fill("portal-")
    page.get_by_role("button", name="Apply filters").click()
    row_link = page.get_by_role("link", name="portal-bell")
    expect(row_link).to_be_visible()
    axe_check(page)
    screenshot(page, "job-management")
    row_link.first.click()
    expect(page.get_by_role("heading", name="Job portal-bell")).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Histogram of results"))
    expect(chart).to_be_visible()
    # Readable without colour: each outcome and its share are text.
    expect(page.get_by_role("table", name="Results by outcome")).to_contain_text("%")
    expect(page.get_by_role("link", name="Download output")).to_be_visible()
    axe_check(page)
    screenshot(page, "job")
    with page.expect_download() as d:
        page.get_by_role("link", name="Download input").click()
    assert '"qubits"' in open(d.value.path()).read()


def test_a_reader_sees_no_keys_and_no_regenerate_buttons(admin, browser, server):
    upn = f"reader{uuid.uuid4().hex[:6]}@qws.test"
    code, body = server.arm(
        "POST",
        "/qws/directory/users",
        {"userPrincipalName": upn, "displayName": "Rita Reader", "passwordProfile": {"password": "Read-0nly-pass"}},
    )
    assert code == 201, body
    # The administrator grants Reader in the portal's Access control blade.
    page = admin
    page.goto(ws_url(server, "dev", "iam"))
    page.get_by_label("User principal name or object id").fill(upn)
    page.get_by_label("Role", exact=True).select_option(label="Reader")
    page.get_by_role("button", name="Add role assignment").click()
    expect(page.get_by_role("status")).to_contain_text("The role assignment was added.")
    expect(page.get_by_role("table", name=re.compile("Role assignments"))).to_contain_text("Rita Reader")
    ctx = browser.new_context(ignore_https_errors=True, base_url=server.https_url)
    reader = ctx.new_page()
    try:
        sign_in(reader, upn, "Read-0nly-pass")
        reader.goto(ws_url(server, "dev", "overview"))
        expect(reader.get_by_role("heading", name="dev · Overview")).to_be_visible()
        reader.goto(ws_url(server, "dev", "keys"))
        expect(reader.get_by_role("switch", name="Enable access keys")).to_be_disabled()
        for name in ["Show primary key", "Copy primary key", "Regenerate primary key", "Regenerate secondary key"]:
            expect(reader.get_by_role("button", name=name)).to_have_count(0)
        expect(reader.get_by_label("Primary key", exact=True)).to_have_count(0)
        expect(reader.get_by_text("Your role does not allow listing")).to_be_visible()
        axe_check(reader)
        screenshot(reader, "access-keys-reader")
    finally:
        ctx.close()


def test_csrf_and_csp(admin, server):
    page = admin
    before = server.list_keys("dev")
    resp = page.request.post(
        ws_url(server, "dev", "keys/regenerate"),
        form={"key": "Primary"},
        max_redirects=0,
    )
    assert resp.status == 403
    assert server.list_keys("dev") == before
    nav = page.goto(ws_url(server, "dev", "keys"))
    h = nav.headers
    csp = h["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert h["x-frame-options"] == "DENY"
    assert h["cache-control"] == "no-store"
    # The CSP is enforced: an injected inline script does not run.
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }""")
    assert page.evaluate("() => window.__inline === undefined")


@pytest.mark.parametrize("blade", ["providers", "quotas", "iam", "activity"])
def test_every_blade_is_accessible(admin, server, blade):
    page = admin
    page.goto(ws_url(server, "dev", blade))
    name = dict(zip(["providers", "quotas", "iam", "activity"], ["Providers", "Quotas", "Access control (IAM)", "Activity log"]))[blade]
    expect(page.get_by_role("heading", name=f"dev · {name}")).to_be_visible()
    expect(page.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")
    axe_check(page)
    screenshot(page, blade)


def test_home_lists_and_searches_and_manages_resource_groups(admin, server):
    page = admin
    axe_check(page)
    screenshot(page, "home")
    page.get_by_label("Resource group name").fill("portal-temp")
    page.get_by_role("button", name="Create resource group").click()
    expect(page.get_by_role("status")).to_contain_text("The resource group was created.")
    assert server.arm("GET", f"/subscriptions/{server.sub}/resourceGroups/portal-temp", api=ARM_API)[0] == 200
    page.get_by_role("searchbox", name="Search resources").fill("portal-temp")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table", name="Resource groups")).to_contain_text("portal-temp")
    expect(page.get_by_role("table", name="Workspaces")).not_to_contain_text("dev")
    page.get_by_role("button", name="Delete resource group portal-temp").click()
    confirm(page)
    expect(page.get_by_role("status")).to_contain_text("The resource group was deleted.")
    assert server.arm("GET", f"/subscriptions/{server.sub}/resourceGroups/portal-temp", api=ARM_API)[0] == 404


def test_a_failed_job_shows_its_error_details(admin, server):
    page = admin
    client = key_client(server, "dev", server.list_keys("dev")["primaryKey"]["key"])
    job = client.get_targets(name="ionq.simulator").submit(
        {"qubits": 1, "circuit": [{"gate": "nope", "target": 0}]}, name="portal-broken", shots=1
    )
    job.wait_until_completed(timeout_secs=300)
    page.goto(ws_url(server, "dev", "jobs") + "?status=Failed")
    page.get_by_role("link", name="portal-broken").click()
    expect(page.get_by_role("heading", name="Error details")).to_be_visible()
    expect(page.locator("main")).to_contain_text(job.details.error_data.message)
    axe_check(page)


def test_keyboard_only_the_switch_asks_and_no_changes_nothing(admin, server):
    page = admin
    server.create_workspace("kbd")
    page.goto(ws_url(server, "kbd", "keys"))
    switch = page.get_by_role("switch", name="Enable access keys")
    switch.focus()
    page.keyboard.press("Space")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # The safe answer has the focus; Enter on it closes the dialog and changes nothing.
    expect(dialog.get_by_role("button", name="No")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(switch).to_have_attribute("aria-checked", "true")
    _, ws = server.arm("GET", server.ws_id("qws", "kbd"))
    assert ws["properties"]["apiKeyEnabled"] is True


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_and_both_themes(browser, server, scheme):
    ctx = browser.new_context(
        ignore_https_errors=True,
        base_url=server.https_url,
        viewport={"width": 375, "height": 740},
        color_scheme=scheme,
    )
    page = ctx.new_page()
    try:
        sign_in(page, server.b["adminUser"], server.b["adminPassword"])
        for blade in ["overview", "keys", "jobs"]:
            page.goto(ws_url(server, "dev", blade))
            # Nothing wider than the phone but the tables' own scrolling boxes.
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            axe_check(page)
        screenshot(page, f"jobs-phone-{scheme}")
    finally:
        ctx.close()


def test_job_management_pages_through_jobs(admin, server):
    page = admin
    server.create_workspace("paged")
    client = key_client(server, "paged", server.list_keys("paged")["primaryKey"]["key"])
    target = client.get_targets(name="ionq.simulator")
    names = {f"page-{i:02d}" for i in range(23)}
    for name in sorted(names):
        target.submit(BELL, name=name, shots=1)
    page.goto(ws_url(server, "paged", "jobs") + "?name=page-")
    table = page.get_by_role("table", name="Jobs, newest first")
    first = set(table.get_by_role("link").all_inner_texts())
    assert len(first) == 20
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Page 2")).to_be_visible()
    second = set(page.get_by_role("table", name="Jobs, newest first").get_by_role("link").all_inner_texts())
    assert len(second) == 3 and not first & second and first | second == names
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
