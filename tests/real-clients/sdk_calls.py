"""Drives azure-sim over TLS with Microsoft's own Azure SDK for Python and checks that every
call is answered as Azure answers it: the body the SDK deserialises, the error code it raises,
the long-running operations it polls. Prints one PASS/FAIL line per call, then
"N passed, M failed"; exits 1 if any call was answered wrongly.

Environment (set by crates/azure-sim/tests/real_clients.rs): SIM_URL (https://127.0.0.1:PORT),
REQUESTS_CA_BUNDLE (the stand-in's CA), the ids of its scenario (the default one plus the
vaults and the `sdk-rg` group that test adds).
"""

import json
import os
import socket
import sys

import requests

# RFC 6761: `.localhost` names are loopback; glibc without systemd-resolved does not resolve
# them, so this test does, as the RFC says (Key Vault hosts `{vault}.vault.localhost`).
_getaddrinfo = socket.getaddrinfo


def _loopback_localhost(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_localhost

from azure.core.exceptions import (  # noqa: E402
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402
from azure.mgmt.compute import ComputeManagementClient  # noqa: E402
from azure.mgmt.core.policies import AuxiliaryAuthenticationPolicy  # noqa: E402
from azure.mgmt.network import NetworkManagementClient  # noqa: E402
from azure.mgmt.resource.deployments import DeploymentsMgmtClient  # noqa: E402
from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: E402
from azure.mgmt.resource.subscriptions import SubscriptionClient  # noqa: E402
import msal  # noqa: E402

SIM = os.environ["SIM_URL"].rstrip("/")
PORT = SIM.rsplit(":", 1)[1]
T1 = "11111111-1111-4111-8111-111111111111"
T2 = "22222222-2222-4222-8222-222222222222"
SUB1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
SUB2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
APP = "33333333-3333-4333-8333-333333333333"
SECRET = "local-sim-secret"
RG = "myResourceGroup"
SDK_RG = "sdk-rg"
GALLERY_RG = "myGalleryRG"
GALLERY = "myGallery"
IMAGE = "myImageDefinition"
UNIQUE = f"{SUB1}-{GALLERY.upper()}"
PUBLIC = "myGalleryPublic-0a1b2c3d"
LOC = "southcentralus"
ARM_SCOPE = "https://management.azure.com/.default"
VERSION_ID = (
    f"/subscriptions/{SUB1}/resourceGroups/{GALLERY_RG}/providers/Microsoft.Compute/"
    f"galleries/{GALLERY}/images/{IMAGE}/versions/1.0.0"
)
SSH_KEY = os.environ["SIM_SSH_KEY"]

results = []


def check(name, fn):
    """Runs one call; `fn` returns (ok, detail) or raises."""
    try:
        ok, detail = fn()
    except Exception as e:  # the call was answered in a way the SDK could not take
        ok, detail = False, f"{type(e).__name__}: {e}"
    results.append((name, ok))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  -- {detail}"), flush=True)


def expect_error(fn, status, code):
    try:
        fn()
    except HttpResponseError as e:
        got = e.error.code if e.error else None
        return (e.status_code == status and got == code, f"{e.status_code} {got}: {e.message[:300]}")
    return False, "no error raised"


def cred(tenant, secret=SECRET):
    return ClientSecretCredential(
        tenant, APP, secret, authority=SIM, disable_instance_discovery=True
    )


def advance(seconds):
    requests.post(f"{SIM}/_sim/advance", json={"seconds": seconds}).raise_for_status()


c1, c2 = cred(T1), cred(T2)
mgmt = {"base_url": SIM, "credential_scopes": [ARM_SCOPE]}
aux = AuxiliaryAuthenticationPolicy([c1], ARM_SCOPE)

# --- Entra: discovery and tokens -----------------------------------------------------------
check("identity: token for ARM in tenant 1 (OIDC discovery + client credentials)",
      lambda: (bool(c1.get_token(ARM_SCOPE).token), ""))
check("identity: token for ARM in tenant 2", lambda: (bool(c2.get_token(ARM_SCOPE).token), ""))
check("identity: token for Key Vault", lambda: (bool(c1.get_token("https://vault.azure.net/.default").token), ""))


def _msal_instance_discovery():
    app = msal.ConfidentialClientApplication(
        APP, client_credential=SECRET, authority=f"{SIM}/{T2}",
        instance_discovery=f"{SIM}/common/discovery/instance",
    )
    r = app.acquire_token_for_client(scopes=[ARM_SCOPE])
    return ("access_token" in r, json.dumps(r)[:300])


check("msal: instance discovery at the stand-in, then a token", _msal_instance_discovery)


def _wrong_secret():
    try:
        cred(T1, "wrong").get_token(ARM_SCOPE)
    except ClientAuthenticationError as e:
        return ("AADSTS7000215" in str(e), str(e)[:200])
    return False, "no error"


check("identity: a wrong secret is refused with AADSTS7000215", _wrong_secret)


def _unknown_tenant_discovery():
    r = requests.get(f"{SIM}/99999999-9999-4999-8999-999999999999/v2.0/.well-known/openid-configuration")
    return (r.status_code == 400 and r.json().get("error") == "invalid_tenant", r.text[:200])


check("identity: OIDC discovery of an unknown tenant is 400 invalid_tenant", _unknown_tenant_discovery)


def _oidc_doc():
    d = requests.get(f"{SIM}/{T1}/v2.0/.well-known/openid-configuration").json()
    return (d["token_endpoint"] == f"{SIM}/{T1}/oauth2/v2.0/token" and d["issuer"] == f"{SIM}/{T1}/v2.0", json.dumps(d)[:200])


check("identity: OIDC discovery document points back at the stand-in", _oidc_doc)


def _metadata():
    d = requests.get(f"{SIM}/metadata/endpoints?api-version=2022-09-01").json()
    return (d["resourceManager"] == f"{SIM}/" and d["authentication"]["loginEndpoint"] == f"{SIM}/", json.dumps(d)[:200])


check("arm: /metadata/endpoints names the stand-in", _metadata)

# --- Subscriptions -----------------------------------------------------------------------------
subs1 = SubscriptionClient(c1, **mgmt)
subs2 = SubscriptionClient(c2, **mgmt)
check("subscriptions: list in tenant 1", lambda: ([s.subscription_id for s in subs1.subscriptions.list()] == [SUB1], ""))
check("subscriptions: list in tenant 2", lambda: ([s.subscription_id for s in subs2.subscriptions.list()] == [SUB2], ""))
check("subscriptions: get", lambda: (subs2.subscriptions.get(SUB2).tenant_id == T2, ""))
check("subscriptions: tenants list", lambda: ([t.tenant_id for t in subs2.tenants.list()] == [T2], ""))
check("subscriptions: another tenant's subscription is InvalidAuthenticationTokenTenant",
      lambda: expect_error(lambda: subs1.subscriptions.get(SUB2), 401, "InvalidAuthenticationTokenTenant"))

# --- Resource groups and resources ---------------------------------------------------------
res2 = ResourceManagementClient(c2, SUB2, **mgmt)
check("resources: HEAD resource group (exists)", lambda: (res2.resource_groups.check_existence(RG) is True, ""))
check("resources: HEAD on a group outside the role's scope is 403 (AuthorizationFailed)", lambda: expect_error(
    lambda: res2.resource_groups.check_existence("nope"), 403, None))
check("resources: get resource group has its type",
      lambda: (res2.resource_groups.get(RG).type == "Microsoft.Resources/resourceGroups", ""))
check("resources: list resource groups (paged)",
      lambda: (sorted(g.name for g in res2.resource_groups.list()) == sorted([RG, SDK_RG]), ""))
check("resources: creating a group without the role is AuthorizationFailed",
      lambda: expect_error(lambda: res2.resource_groups.create_or_update("new-rg", {"location": LOC}), 403, "AuthorizationFailed"))
bad_res = ResourceManagementClient(c2, SUB2, api_version="1999-01-01", **mgmt)
check("resources: unknown api-version is InvalidApiVersionParameter",
      lambda: expect_error(lambda: bad_res.resource_groups.get(RG), 400, "InvalidApiVersionParameter"))

# --- Gallery reads in tenant 1 ----------------------------------------------------------------
cmp1 = ComputeManagementClient(c1, SUB1, **mgmt)
check("gallery: get gallery", lambda: (cmp1.galleries.get(GALLERY_RG, GALLERY).name == GALLERY, ""))
check("gallery: list images (paged)",
      lambda: (len(list(cmp1.gallery_images.list_by_gallery(GALLERY_RG, GALLERY))) == 5, ""))
check("gallery: list versions",
      lambda: ([v.name for v in cmp1.gallery_image_versions.list_by_gallery_image(GALLERY_RG, GALLERY, IMAGE)] == ["1.0.0"], ""))
advance(700)  # replication of the seeded versions completes (simulated time)
check("gallery: version with replicationStatus",
      lambda: (cmp1.gallery_image_versions.get(GALLERY_RG, GALLERY, IMAGE, "1.0.0", expand="ReplicationStatus")
               .properties.replication_status.aggregated_state == "Completed", ""))
check("gallery: deleting a version with Reader is AuthorizationFailed",
      lambda: expect_error(lambda: cmp1.gallery_image_versions.begin_delete(GALLERY_RG, GALLERY, IMAGE, "1.0.0"), 403, "AuthorizationFailed"))

# --- Shared and community galleries from tenant 2 ------------------------------------------
cmp2 = ComputeManagementClient(c2, SUB2, **mgmt)
check("shared gallery: list shared to my tenant",
      lambda: ([g.name for g in cmp2.shared_galleries.list(LOC, shared_to="tenant")] == [UNIQUE], ""))
check("shared gallery: get", lambda: (cmp2.shared_galleries.get(LOC, UNIQUE).name == UNIQUE, ""))
check("shared gallery: list images", lambda: (len(list(cmp2.shared_gallery_images.list(LOC, UNIQUE))) == 5, ""))
check("shared gallery: get image", lambda: (cmp2.shared_gallery_images.get(LOC, UNIQUE, IMAGE).name == IMAGE, ""))
check("shared gallery: list versions",
      lambda: ([v.name for v in cmp2.shared_gallery_image_versions.list(LOC, UNIQUE, IMAGE)] == ["1.0.0"], ""))
check("shared gallery: get version",
      lambda: (cmp2.shared_gallery_image_versions.get(LOC, UNIQUE, IMAGE, "1.0.0").name == "1.0.0", ""))
check("community gallery: get", lambda: (cmp2.community_galleries.get(LOC, PUBLIC).name == PUBLIC, ""))
check("community gallery: list images", lambda: (len(list(cmp2.community_gallery_images.list(LOC, PUBLIC))) == 5, ""))
check("community gallery: get version",
      lambda: (cmp2.community_gallery_image_versions.get(LOC, PUBLIC, IMAGE, "1.0.0").name == "1.0.0", ""))
check("community gallery: list versions",
      lambda: ([v.name for v in cmp2.community_gallery_image_versions.list(LOC, PUBLIC, IMAGE)] == ["1.0.0"], ""))

# --- Network in tenant 2 -----------------------------------------------------------------------
net2 = NetworkManagementClient(c2, SUB2, **mgmt)
TAGS = {"imageferry-deployment": "sdk-1"}
vnet = net2.virtual_networks.begin_create_or_update(RG, "sdkVNET", {
    "location": LOC, "tags": TAGS, "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
    "subnets": [{"name": "sdkSubnet", "properties": {"addressPrefix": "10.1.0.0/24"}}]}})
check("network: create VNet (LRO)", lambda: (vnet.result().provisioning_state == "Succeeded", ""))
check("network: get subnet", lambda: (net2.subnets.get(RG, "sdkVNET", "sdkSubnet").address_prefix == "10.1.0.0/24", ""))
check("network: list subnets", lambda: ([s.name for s in net2.subnets.list(RG, "sdkVNET")] == ["sdkSubnet"], ""))
check("network: create NSG", lambda: (net2.network_security_groups.begin_create_or_update(RG, "sdkNSG", {
    "location": LOC, "tags": TAGS, "properties": {"securityRules": []}}).result().name == "sdkNSG", ""))
check("network: create public IP", lambda: (net2.public_ip_addresses.begin_create_or_update(RG, "sdkPIP", {
    "location": LOC, "tags": TAGS, "sku": {"name": "Standard"},
    "properties": {"publicIPAllocationMethod": "Static"}}).result().ip_address is not None, ""))
SUBNET_ID = f"/subscriptions/{SUB2}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/sdkVNET/subnets/sdkSubnet"
PIP_ID = f"/subscriptions/{SUB2}/resourceGroups/{RG}/providers/Microsoft.Network/publicIPAddresses/sdkPIP"
NSG_ID = f"/subscriptions/{SUB2}/resourceGroups/{RG}/providers/Microsoft.Network/networkSecurityGroups/sdkNSG"
NIC_ID = f"/subscriptions/{SUB2}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces/sdkNIC"
check("network: create NIC", lambda: (net2.network_interfaces.begin_create_or_update(RG, "sdkNIC", {
    "location": LOC, "tags": TAGS, "properties": {"networkSecurityGroup": {"id": NSG_ID}, "ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": SUBNET_ID}, "publicIPAddress": {"id": PIP_ID}}}]}}
    ).result().ip_configurations[0].private_ip_address == "10.1.0.4", ""))
check("network: list NICs (paged)", lambda: ("sdkNIC" in [n.name for n in net2.network_interfaces.list(RG)], ""))
check("network: list VNets", lambda: ([v.name for v in net2.virtual_networks.list(RG)] == ["sdkVNET"], ""))
check("network: public IP shows its NIC", lambda: (
    net2.public_ip_addresses.get(RG, "sdkPIP").ip_configuration.id.lower().startswith(NIC_ID.lower()), ""))
check("network: update NIC tags (PATCH)", lambda: (
    net2.network_interfaces.update_tags(RG, "sdkNIC", {"tags": {**TAGS, "extra": "1"}}).tags.get("extra") == "1", ""))
check("network: unknown api-version is NoRegisteredProviderFound", lambda: expect_error(
    lambda: net2.network_interfaces.get(RG, "sdkNIC", api_version="1999-01-01"), 400, "NoRegisteredProviderFound"))

# --- The VM, cross-tenant image ---------------------------------------------------------------
VM = {
    "location": LOC, "tags": TAGS,
    "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {"imageReference": {"id": VERSION_ID},
                           "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                                      "managedDisk": {"storageAccountType": "Premium_LRS"}}},
        "osProfile": {"computerName": "sdkvm", "adminUsername": "azureuser",
                      "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": [
                          {"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]}}},
        "networkProfile": {"networkInterfaces": [{"id": NIC_ID, "properties": {"primary": True, "deleteOption": "Delete"}}]},
    },
}
check("vm: create without the auxiliary token is LinkedAuthorizationFailed",
      lambda: expect_error(lambda: cmp2.virtual_machines.begin_create_or_update(RG, "sdkvm", VM), 403, "LinkedAuthorizationFailed"))
cmp2x = ComputeManagementClient(c2, SUB2, per_call_policies=[aux], **mgmt)
check("vm: create with the auxiliary token (LRO)",
      lambda: (cmp2x.virtual_machines.begin_create_or_update(RG, "sdkvm", VM).result().provisioning_state == "Succeeded", ""))
VM_ID = f"/subscriptions/{SUB2}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/sdkvm"
check("vm: HEAD (check existence by id)", lambda: (res2.resources.check_existence_by_id(VM_ID, api_version="2026-04-01") is True, ""))


def _power(vm_name):
    iv = cmp2.virtual_machines.instance_view(RG, vm_name)
    return [s.code for s in iv.statuses if s.code.startswith("PowerState/")]


check("vm: get with $expand=instanceView shows PowerState/running", lambda: (
    [s.code for s in cmp2.virtual_machines.get(RG, "sdkvm", expand="instanceView").properties.instance_view.statuses
     if s.code.startswith("PowerState/")] == ["PowerState/running"], ""))
check("vm: instanceView", lambda: (_power("sdkvm") == ["PowerState/running"], str(_power("sdkvm"))))
check("vm: list in the group", lambda: ([v.name for v in cmp2.virtual_machines.list(RG)] == ["sdkvm"], ""))
check("vm: update tags (PATCH, LRO)", lambda: (
    cmp2.virtual_machines.begin_update(RG, "sdkvm", {"tags": {**TAGS, "patched": "yes"}}).result().tags.get("patched") == "yes", ""))
check("vm: changing imageReference by PATCH is PropertyChangeNotAllowed", lambda: expect_error(
    lambda: cmp2.virtual_machines.begin_update(RG, "sdkvm", {"properties": {"storageProfile": {"imageReference": {"id": VERSION_ID.replace("myImageDefinition", "myWindowsImage")}}}}),
    409, "PropertyChangeNotAllowed"))
check("vm: powerOff (LRO) then PowerState/stopped", lambda: (
    cmp2.virtual_machines.begin_power_off(RG, "sdkvm").result() is None and _power("sdkvm") == ["PowerState/stopped"], str(_power("sdkvm"))))
check("vm: start (LRO) then PowerState/running", lambda: (
    cmp2.virtual_machines.begin_start(RG, "sdkvm").result() is None and _power("sdkvm") == ["PowerState/running"], ""))
disk_id = cmp2.virtual_machines.get(RG, "sdkvm").properties.storage_profile.os_disk.managed_disk.id
disk_name = disk_id.rsplit("/", 1)[1]
check("disk: the OS disk is a resource managed by the VM", lambda: (
    cmp2.disks.get(RG, disk_name).managed_by.lower() == VM_ID.lower(), ""))
check("disk: list in the group", lambda: ([d.name for d in cmp2.disks.list_by_resource_group(RG)] == [disk_name], ""))
check("disk: deleting an attached disk is OperationNotAllowed", lambda: expect_error(
    lambda: cmp2.disks.begin_delete(RG, disk_name).result(), 409, "OperationNotAllowed"))
check("network: deleting a NIC a VM uses is NicInUse", lambda: expect_error(
    lambda: net2.network_interfaces.begin_delete(RG, "sdkNIC").result(), 400, "NicInUse"))
check("network: deleting a public IP on a NIC is PublicIPAddressInUse", lambda: expect_error(
    lambda: net2.public_ip_addresses.begin_delete(RG, "sdkPIP").result(), 400, "PublicIPAddressInUse"))
check("network: deleting an NSG on a NIC is InUseNetworkSecurityGroupCannotBeDeleted", lambda: expect_error(
    lambda: net2.network_security_groups.begin_delete(RG, "sdkNSG").result(), 400, "InUseNetworkSecurityGroupCannotBeDeleted"))
check("network: deleting a VNet whose subnet is used is InUseSubnetCannotBeDeleted", lambda: expect_error(
    lambda: net2.virtual_networks.begin_delete(RG, "sdkVNET").result(), 400, "InUseSubnetCannotBeDeleted"))


def _tagged():
    items = list(res2.resources.list_by_resource_group(RG, filter="tagName eq 'imageferry-deployment' and tagValue eq 'sdk-1'"))
    types = sorted(i.type for i in items)
    want = sorted(["Microsoft.Compute/virtualMachines", "Microsoft.Network/networkInterfaces",
                   "Microsoft.Network/networkSecurityGroups", "Microsoft.Network/publicIPAddresses",
                   "Microsoft.Network/virtualNetworks"])
    return (types == want, str(types))


check("resources: list by group with the tag filter", _tagged)
check("resources: an unsupported $filter is refused", lambda: expect_error(
    lambda: list(res2.resources.list_by_resource_group(RG, filter="substringof('x', name)")), 400, "InvalidFilterInQueryString"))
check("vm: delete (LRO, forceDeletion=false) and then 404", lambda: (
    cmp2.virtual_machines.begin_delete(RG, "sdkvm", force_deletion=False).result() is None
    and res2.resources.check_existence_by_id(VM_ID, api_version="2026-04-01") is False, ""))


def _gone_with_vm():
    try:
        net2.network_interfaces.get(RG, "sdkNIC")
        return False, "the NIC (deleteOption Delete) is still there"
    except ResourceNotFoundError:
        pass
    try:
        cmp2.disks.get(RG, disk_name)
        return False, "the OS disk (deleteOption Delete) is still there"
    except ResourceNotFoundError:
        return True, ""


check("vm: its OS disk and NIC (deleteOption Delete) went with it", _gone_with_vm)
check("network: delete public IP (LRO)", lambda: (net2.public_ip_addresses.begin_delete(RG, "sdkPIP").result() is None, ""))
check("network: delete NSG (LRO)", lambda: (net2.network_security_groups.begin_delete(RG, "sdkNSG").result() is None, ""))
check("network: delete VNet (LRO)", lambda: (net2.virtual_networks.begin_delete(RG, "sdkVNET").result() is None, ""))
check("network: nothing tagged is left", lambda: (
    list(res2.resources.list_by_resource_group(RG, filter="tagName eq 'imageferry-deployment'")) == [], ""))

# --- Template deployment ---------------------------------------------------------------------------
dep2 = DeploymentsMgmtClient(c2, SUB2, **mgmt)
TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"prefix": {"type": "string"}, "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}},
    "variables": {"pipName": "[concat(parameters('prefix'), 'PIP')]"},
    "resources": [
        {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": "[variables('pipName')]",
         "location": "[parameters('location')]", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}},
        {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": "[concat(parameters('prefix'), 'NSG')]",
         "location": "[parameters('location')]", "dependsOn": ["[resourceId('Microsoft.Network/publicIPAddresses', variables('pipName'))]"],
         "properties": {"securityRules": []}},
    ],
    "outputs": {"ip": {"type": "string", "value": "[reference(resourceId('Microsoft.Network/publicIPAddresses', variables('pipName'))).ipAddress]"}},
}
check("deployment: PUT a template (LRO) with outputs", lambda: (
    dep2.deployments.begin_create_or_update(SDK_RG, "dep1", {"properties": {"mode": "Incremental", "template": TEMPLATE,
        "parameters": {"prefix": {"value": "tpl"}}}}).result().properties.outputs["ip"]["value"].startswith("198.51.100."), ""))
check("deployment: get", lambda: (dep2.deployments.get(SDK_RG, "dep1").properties.provisioning_state == "Succeeded", ""))
check("deployment: HEAD", lambda: (dep2.deployments.check_existence(SDK_RG, "dep1") is True, ""))
check("deployment: operations list in dependency order", lambda: (
    [o.properties.target_resource.resource_name for o in dep2.deployment_operations.list(SDK_RG, "dep1")] == ["tplPIP", "tplNSG"], ""))
BAD = dict(TEMPLATE, resources=[dict(TEMPLATE["resources"][0], name="[listKeys('x', '2020-01-01')]")])
check("deployment: an unsupported template function is InvalidTemplate", lambda: expect_error(
    lambda: dep2.deployments.begin_create_or_update(SDK_RG, "dep2", {"properties": {"mode": "Incremental", "template": BAD,
        "parameters": {"prefix": {"value": "x"}}}}), 400, "InvalidTemplate"))
def _dep3_failed():
    d = dep2.deployments.get(SDK_RG, "dep3")
    return d.properties.provisioning_state == "Failed" and d.properties.error.details[0].code == "LinkedAuthorizationFailed"


def _dep3():
    vm_template = {"$schema": TEMPLATE["$schema"], "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2025-04-01", "name": "tplvm", "location": LOC,
         "properties": VM["properties"]}]}
    try:
        dep2.deployments.begin_create_or_update(SDK_RG, "dep3", {"properties": {"mode": "Incremental", "template": vm_template}}).result()
        return False, "the deployment succeeded"
    except HttpResponseError:
        return _dep3_failed(), str(dep2.deployments.get(SDK_RG, "dep3").properties.error)


check("deployment: a VM from another tenant's image without the auxiliary token fails with LinkedAuthorizationFailed", _dep3)
check("resources: delete a resource group (LRO), then HEAD 404", lambda: (
    res2.resource_groups.begin_delete(SDK_RG).result() is None and res2.resource_groups.check_existence(SDK_RG) is False, ""))

# --- Key Vault --------------------------------------------------------------------------------------
kv_default = SecretClient(SIM, c1, verify_challenge_resource=False)
kv_officer = SecretClient(f"https://kv-officer.vault.localhost:{PORT}", c1, verify_challenge_resource=False)
kv_reader = SecretClient(f"https://kv-reader.vault.localhost:{PORT}", c1, verify_challenge_resource=False)
check("keyvault: get a secret (challenge, then Secrets User on it)", lambda: (
    kv_default.get_secret("vm-admin-password").value == "Local-Sim-Passw0rd!", ""))


def _forbidden(fn):
    try:
        fn()
    except HttpResponseError as e:
        body = e.response.json()
        ok = (e.status_code == 403 and body["error"]["code"] == "Forbidden"
              and body["error"]["innererror"]["code"] == "ForbiddenByRbac"
              and "Caller is not authorized to perform action on resource." in body["error"]["message"])
        return ok, json.dumps(body)[:300]
    return False, "no error"


check("keyvault: set with only Secrets User is 403 ForbiddenByRbac", lambda: _forbidden(
    lambda: kv_default.set_secret("vm-admin-password", "changed")))
check("keyvault: the refused set changed nothing", lambda: (
    kv_default.get_secret("vm-admin-password").value == "Local-Sim-Passw0rd!", ""))
check("keyvault: set as Secrets Officer stores", lambda: (kv_officer.set_secret("s1", "v1").value == "v1", ""))
check("keyvault: get what was set", lambda: (kv_officer.get_secret("s1").value == "v1", ""))
check("keyvault: a second set makes a new version", lambda: (
    kv_officer.set_secret("s1", "v2").properties.version != kv_officer.get_secret("s1", kv_officer.get_secret("s1").properties.version).properties.version
    or kv_officer.get_secret("s1").value == "v2", ""))
check("keyvault: list versions", lambda: (len(list(kv_officer.list_properties_of_secret_versions("s1"))) == 2, ""))
for n in ("s2", "s3"):
    kv_officer.set_secret(n, n)
check("keyvault: list secrets (paged)", lambda: (
    sorted(p.name for p in kv_officer.list_properties_of_secrets(max_page_size=2)) == ["s1", "s2", "s3"], ""))
check("keyvault: update properties", lambda: (
    kv_officer.update_secret_properties("s2", content_type="text/plain").content_type == "text/plain", ""))
check("keyvault: delete (soft delete, poller)", lambda: (kv_officer.begin_delete_secret("s3").result().name == "s3", ""))


def _deleted_not_readable():
    try:
        kv_officer.get_secret("s3")
        return False, "still readable"
    except ResourceNotFoundError:
        return True, ""


check("keyvault: a deleted secret is 404", _deleted_not_readable)
check("keyvault: get deleted secret", lambda: (kv_officer.get_deleted_secret("s3").recovery_id.endswith("/deletedsecrets/s3"), ""))
check("keyvault: list deleted secrets", lambda: ([d.name for d in kv_officer.list_deleted_secrets()] == ["s3"], ""))


def _conflict():
    try:
        kv_officer.set_secret("s3", "again")
    except ResourceExistsError as e:
        return (e.status_code == 409 and "deleted but recoverable" in e.message, e.message[:200])
    except HttpResponseError as e:
        return (e.status_code == 409, e.message[:200])
    return False, "no error"


check("keyvault: reusing a deleted name is 409 Conflict", _conflict)
check("keyvault: recover (poller), then readable", lambda: (
    kv_officer.begin_recover_deleted_secret("s3").result().name == "s3" and kv_officer.get_secret("s3").value == "s3", ""))
check("keyvault: delete then purge", lambda: (
    kv_officer.begin_delete_secret("s2").result() is not None and kv_officer.purge_deleted_secret("s2") is None
    and list(kv_officer.list_deleted_secrets()) == [], ""))
check("keyvault: the vault is named by the host (kv-reader has its own secret)", lambda: (
    kv_reader.get_secret("greeting").value == "hello", ""))
check("keyvault: kv-reader's Secrets User cannot set", lambda: _forbidden(lambda: kv_reader.set_secret("greeting", "x")))


def _other_vault_isolated():
    try:
        kv_reader.get_secret("s1")
        return False, "kv-officer's secret visible in kv-reader"
    except ResourceNotFoundError:
        return True, ""


check("keyvault: vaults do not share secrets", _other_vault_isolated)


def _kv_bad_version():
    token = c1.get_token("https://vault.azure.net/.default").token
    r = requests.get(f"{SIM}/secrets/vm-admin-password?api-version=1999-01-01", headers={"Authorization": f"Bearer {token}"})
    return (r.status_code == 400 and r.json()["error"]["code"] == "BadParameter", r.text[:200])


check("keyvault: unknown api-version is BadParameter", _kv_bad_version)

passed = sum(1 for _, ok in results if ok)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
