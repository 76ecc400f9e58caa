//! ArmClient against a fake ARM: retries and Retry-After, LRO polling, the auxiliary header, error
//! mapping, the host check on followed URLs.

mod common;

use azure_clients::models::{ProvisioningState, ResourceGroup, VirtualMachine};
use azure_clients::{
    ArmClient, ArmError, ConfigError, Endpoints, OperationRef, PollKind, PutRequest, RetryPolicy,
};
use common::{arm_error, fake_server, json, static_tokens, vars};
use serde_json::json as j;
use std::time::{Duration, Instant};
use url::Url;

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const RG: &str = "/subscriptions/bbbb/resourceGroups/myResourceGroup";
const VM: &str = "/subscriptions/bbbb/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM";

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_total: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        operation_timeout: Duration::from_secs(10),
    }
}

fn client(base: &Url, retry: RetryPolicy) -> ArmClient {
    let endpoints =
        Endpoints::from_vars(vars(&[("IMAGEFERRY_ARM_ENDPOINT", base.as_str())])).unwrap();
    ArmClient::new(endpoints, static_tokens(), retry)
}

fn rg_body() -> serde_json::Value {
    j!({"id": RG, "name": "myResourceGroup", "location": "southcentralus", "properties": {"provisioningState": "Succeeded"}})
}

#[tokio::test]
async fn retry_after_seconds_and_http_date_are_honoured() {
    let (base, log) = fake_server(|r| match r.seen {
        0 => {
            let when = std::time::SystemTime::now() + Duration::from_secs(2);
            json(
                503,
                j!({}),
                &[("retry-after", httpdate::fmt_http_date(when))],
            )
        }
        1 => json(
            429,
            j!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
            &[("retry-after", "1".into())],
        ),
        _ => json(200, rg_body(), &[]),
    })
    .await;
    let arm = client(&base, policy());
    let start = Instant::now();
    let rg: ResourceGroup = arm.get(T2, RG, "2024-03-01", &[]).await.unwrap();
    assert_eq!(rg.location, "southcentralus");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    // The HTTP date has one-second resolution: it asked for 1..2 s.
    let first_wait = log[1].at - log[0].at;
    assert!(first_wait >= Duration::from_millis(990), "{first_wait:?}");
    let second_wait = log[2].at - log[1].at;
    assert!(second_wait >= Duration::from_secs(1), "{second_wait:?}");
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert_eq!(log[0].query, "api-version=2024-03-01");
    assert_eq!(log[0].headers["authorization"], format!("Bearer t-{T2}"));
}

#[tokio::test]
async fn retries_are_bounded_in_attempts_and_time() {
    let (base, log) = fake_server(|_| arm_error(500, "InternalServerError", "boom")).await;
    let err = client(&base, policy())
        .get::<ResourceGroup>(T2, RG, "2024-03-01", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(log.lock().unwrap().len(), 4, "max_attempts");

    // A Retry-After beyond the total budget ends the retries at once and is reported.
    let (base, log) = fake_server(|_| json(429, j!({}), &[("retry-after", "3600".into())])).await;
    let start = Instant::now();
    let err = client(&base, policy())
        .get::<ResourceGroup>(T2, RG, "2024-03-01", &[])
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(log.lock().unwrap().len(), 1);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(matches!(err, ArmError::Throttled { .. }) && err.is_transient());
}

#[tokio::test]
async fn network_errors_are_retried_then_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let err = client(&base, policy())
        .get::<ResourceGroup>(T2, RG, "2024-03-01", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Transport(_)) && err.is_transient(),
        "{err:?}"
    );
}

fn vm_body(state: &str) -> serde_json::Value {
    j!({"id": VM, "name": "myVM", "location": "southcentralus",
        "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5"}, "provisioningState": state}})
}

#[tokio::test]
async fn lro_via_azure_async_operation_then_resource_get() {
    let (base, log) = fake_server(|r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", VM) => json(
            201,
            vm_body("Creating"),
            &[
                ("azure-asyncoperation", format!("{}/subscriptions/bbbb/providers/Microsoft.Compute/locations/southcentralus/operations/op1?api-version=2025-04-01", r.origin())),
                ("location", format!("{}/ignored-when-async-operation-present", r.origin())),
                ("retry-after", "1".into()),
            ],
        ),
        ("GET", p) if p.ends_with("/operations/op1") => match r.seen {
            0 => json(200, j!({"status": "InProgress", "name": "op1"}), &[("retry-after", "0".into())]),
            1 => json(200, j!({"status": "Creating"}), &[]),
            _ => json(200, j!({"status": "Succeeded", "startTime": "2026-01-01T00:00:00Z"}), &[]),
        },
        ("GET", VM) => json(200, vm_body("Succeeded"), &[]),
        _ => arm_error(404, "NotFound", "unexpected"),
    })
    .await;
    let arm = client(&base, policy());
    let body = VirtualMachine {
        location: "southcentralus".into(),
        ..Default::default()
    };
    let vm: VirtualMachine = arm
        .put_and_wait(PutRequest {
            tenant: T2,
            aux_tenants: &[T1],
            path: VM,
            api_version: "2025-04-01",
            body: &body,
        })
        .await
        .unwrap();
    assert_eq!(
        vm.properties.provisioning_state,
        Some(ProvisioningState::Succeeded)
    );
    let log = log.lock().unwrap();
    let seq: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(seq.len(), 5, "{seq:?}");
    assert!(seq[1].ends_with("/operations/op1") && seq[3].ends_with("/operations/op1"));
    assert_eq!(seq[4], format!("GET {VM}"));
    assert!(!seq.iter().any(|s| s.contains("ignored")));
    // The PUT's Retry-After (1 s) is honoured before the first poll.
    assert!(log[1].at - log[0].at >= Duration::from_secs(1));
    // Polls go with the primary token only.
    assert!(!log[1].headers.contains_key("x-ms-authorization-auxiliary"));
}

#[tokio::test]
async fn lro_via_location_202_then_200_with_body() {
    let (base, log) = fake_server(|r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", RG) => json(
            202,
            j!({}),
            &[(
                "location",
                format!("{}/subscriptions/bbbb/operationresults/op2", r.origin()),
            )],
        ),
        ("GET", "/subscriptions/bbbb/operationresults/op2") if r.seen < 2 => {
            json(202, j!({}), &[("retry-after", "0".into())])
        }
        ("GET", "/subscriptions/bbbb/operationresults/op2") => json(200, rg_body(), &[]),
        _ => arm_error(404, "NotFound", "unexpected"),
    })
    .await;
    let arm = client(&base, policy());
    let accepted = arm
        .put::<_, serde_json::Value>(PutRequest {
            tenant: T2,
            aux_tenants: &[],
            path: RG,
            api_version: "2024-03-01",
            body: &ResourceGroup::new("southcentralus"),
        })
        .await
        .unwrap();
    assert_eq!(accepted.status, 202);
    let op = accepted.operation.clone().unwrap();
    assert_eq!(op.kind, PollKind::Location);
    // The operation survives a round trip through a message.
    let op: OperationRef = serde_json::from_str(&serde_json::to_string(&op).unwrap()).unwrap();
    let first = arm.operation_status(T2, &op).await.unwrap();
    assert!(!first.state.is_terminal());
    assert_eq!(first.retry_after, Some(Duration::ZERO));
    let rg: ResourceGroup = arm.wait(T2, &op).await.unwrap();
    assert_eq!(
        rg.properties.provisioning_state,
        Some(ProvisioningState::Succeeded)
    );
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn failed_operation_is_a_typed_error() {
    let (base, _) = fake_server(|r| match r.method.as_str() {
        "PUT" => json(201, vm_body("Creating"), &[("azure-asyncoperation", format!("{}/subscriptions/bbbb/providers/Microsoft.Compute/locations/westus/operations/op3", r.origin()))]),
        _ => json(200, j!({"status": "Failed", "error": {"code": "AllocationFailed", "message": "no capacity"}}), &[]),
    })
    .await;
    let err = client(&base, policy())
        .put_and_wait::<_, VirtualMachine>(PutRequest {
            tenant: T2,
            aux_tenants: &[],
            path: VM,
            api_version: "2025-04-01",
            body: &VirtualMachine::default(),
        })
        .await
        .unwrap_err();
    // An allocation failure is capacity whether it comes from the operation or the PUT.
    assert!(
        matches!(&err, ArmError::Capacity { code, .. } if code == "AllocationFailed"),
        "{err:?}"
    );
    assert!(err.is_capacity() && !err.is_transient());
    assert!(
        err.hint().unwrap().contains("retry later"),
        "{:?}",
        err.hint()
    );

    let detail = |code: &str, message: &str| azure_clients::arm::ErrorDetail {
        code: code.into(),
        message: message.into(),
        ..Default::default()
    };
    let e = ArmError::from_operation(
        "Failed",
        &detail(
            "OSProvisioningTimedOut",
            "OS Provisioning for VM 'myVM' did not finish in the allotted time. The VM may still finish provisioning successfully. Please check provisioning state later.",
        ),
    );
    assert_eq!(e.code(), "OSProvisioningTimedOut");
    let hint = e.hint().unwrap();
    assert!(
        hint.contains("may still finish") && hint.contains("generalized"),
        "{hint}"
    );
    assert!(!e.is_capacity());
    let e = ArmError::from_operation(
        "Failed",
        &detail("ZonalAllocationFailed", "Allocation failed."),
    );
    assert!(e.is_capacity() && e.code() == "ZonalAllocationFailed");
    let e = ArmError::from_operation("Canceled", &detail("SomethingElse", "x"));
    assert!(matches!(e, ArmError::OperationFailed { ref state, .. } if state == "Canceled"));
    assert!(e.hint().is_none());
}

#[tokio::test]
async fn auxiliary_header_is_sent_from_the_first_attempt_and_limited_to_three() {
    let (base, log) = fake_server(|r| match r.seen {
        0 => arm_error(503, "ServiceUnavailable", "try again"),
        _ => json(200, vm_body("Succeeded"), &[]),
    })
    .await;
    let arm = client(&base, policy());
    let aux = [
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
    ];
    let _: azure_clients::Accepted<VirtualMachine> = arm
        .put(PutRequest {
            tenant: T2,
            aux_tenants: &aux,
            path: VM,
            api_version: "2025-04-01",
            body: &VirtualMachine::default(),
        })
        .await
        .unwrap();
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let expected = format!("Bearer t-{}, Bearer t-{}", aux[0], aux[1]);
    for r in &requests {
        assert_eq!(r.headers["x-ms-authorization-auxiliary"], expected);
        assert_eq!(r.headers["authorization"], format!("Bearer t-{T2}"));
        assert_eq!(r.headers["content-type"], "application/json");
    }

    let (base, log) = fake_server(|_| json(200, j!({}), &[])).await;
    let four = [T1, T1, T1, T1];
    let err = client(&base, policy())
        .put::<_, serde_json::Value>(PutRequest {
            tenant: T2,
            aux_tenants: &four,
            path: VM,
            api_version: "2025-04-01",
            body: &j!({}),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::TooManyAuxiliaryTokens(4)),
        "{err:?}"
    );
    assert!(err.hint().is_some());
    assert!(log.lock().unwrap().is_empty(), "nothing sent");
}

#[tokio::test]
async fn error_bodies_become_typed_errors_with_hints() {
    let (base, _) = fake_server(|r| match r.path.rsplit('/').next().unwrap() {
        "linked-aux" => arm_error(403, "LinkedAuthorizationFailed", "The client has permission to perform action 'Microsoft.Compute/galleries/images/versions/read' on scope '/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm', however the current tenant '2222' is not authorized to access linked subscription 'aaaa'."),
        "linked-rbac" => arm_error(403, "LinkedAuthorizationFailed", "The client has permission to perform action 'Microsoft.Compute/virtualMachines/write' on scope '...'; however, it does not have permission to perform action 'read' on the linked scope(s) '/subscriptions/aaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/img/versions/1.0.0' or the linked scope(s) are invalid."),
        "wrong-tenant" => arm_error(401, "InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer 'https://sts.windows.net/1111/'. It must match the tenant 'https://sts.windows.net/2222/' associated with this subscription."),
        "no-role" => arm_error(403, "AuthorizationFailed", "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachines/write'."),
        "quota" => arm_error(409, "OperationNotAllowed", "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota."),
        "quota2" => arm_error(400, "QuotaExceeded", "Quota exceeded."),
        "sku" => arm_error(409, "SkuNotAvailable", "The requested VM size Standard_X is currently not available in location 'westus2'."),
        "size" => json(400, j!({"error": {"code": "InvalidParameter", "message": "The value Standard_Bogus provided for the VM size is not valid.", "target": "vmSize"}}), &[]),
        "conflict" => arm_error(409, "Conflict", "Another operation is in progress."),
        "busy" => arm_error(409, "AnotherOperationInProgress", "Another operation on this resource is in progress."),
        "missing" => arm_error(404, "ResourceNotFound", "The Resource was not found."),
        "nested" => json(400, j!({"error": {"code": "InvalidTemplateDeployment", "message": "outer", "details": [{"code": "SkuNotAvailable", "message": "inner"}]}}), &[]),
        "subnet-join" => arm_error(403, "LinkedAccessCheckFailed", "The client with object id 'sp' does not have authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/join/action' over scope '/subscriptions/bbbb/resourceGroups/netRG/providers/Microsoft.Network/virtualNetworks/v/subnets/s' or the scope is invalid. If access was recently granted, please refresh your credentials."),
        "plan" => arm_error(400, "VMMarketplaceInvalidInput", "Creating a virtual machine from Marketplace image or a custom image sourced from a Marketplace image requires Plan information in the request. VM: '/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm'."),
        "terms" => json(400, j!({"error": {"code": "MarketplacePurchaseEligibilityFailed", "message": "Marketplace purchase eligibilty check returned errors. See inner errors for details. ", "details": [{"code": "BadRequest", "message": "Offer with PublisherId: 'pub', OfferId: 'offer' cannot be purchased due to validation errors. For more information see details. Correlation Id: '0'. You have not accepted the legal terms on this subscription: 'bbbb' for this plan."}]}}), &[]),
        "zonal" => arm_error(409, "ZonalAllocationFailed", "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone."),
        "not-here" => arm_error(404, "GalleryImageNotFound", "The gallery image /subscriptions/aaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i/versions/1.0.0 is not available in eastus region. Please contact image owner to replicate to this region, or change your requested region."),
        "odd" => json(400, j!({"error": {"code": "SomethingNew", "message": "new", "target": "x"}}), &[]),
        _ => arm_error(500, "Unexpected", "unexpected path"),
    })
    .await;
    let arm = client(
        &base,
        RetryPolicy {
            max_attempts: 1,
            ..policy()
        },
    );
    let get = |case: &'static str| {
        let arm = arm.clone();
        async move {
            arm.get::<serde_json::Value>(
                T2,
                &format!("/subscriptions/bbbb/cases/{case}"),
                "2025-04-01",
                &[],
            )
            .await
            .unwrap_err()
        }
    };
    let e = get("linked-aux").await;
    assert!(matches!(e, ArmError::LinkedAuthorizationFailed { .. }));
    assert!(e.hint().unwrap().contains("auxiliary"), "{:?}", e.hint());
    let e = get("linked-rbac").await;
    assert_eq!(e.code(), "LinkedAuthorizationFailed");
    assert!(
        e.hint().unwrap().contains("Reader role on the gallery"),
        "{:?}",
        e.hint()
    );
    let e = get("wrong-tenant").await;
    assert!(matches!(
        e,
        ArmError::InvalidAuthenticationTokenTenant { .. }
    ));
    assert!(e.hint().unwrap().contains("consent"));
    let e = get("no-role").await;
    assert!(matches!(e, ArmError::AuthorizationFailed { .. }));
    assert!(e.hint().unwrap().contains("Contributor"));
    assert!(!e.is_transient());
    assert!(matches!(get("quota").await, ArmError::QuotaExceeded { .. }));
    assert!(matches!(
        get("quota2").await,
        ArmError::QuotaExceeded { .. }
    ));
    assert!(matches!(get("sku").await, ArmError::SkuNotAvailable { .. }));
    assert!(matches!(
        get("nested").await,
        ArmError::SkuNotAvailable { .. }
    ));
    let e = get("size").await;
    assert!(matches!(e, ArmError::InvalidVmSize { .. }) && e.code() == "InvalidParameter");
    let e = get("conflict").await;
    assert!(matches!(e, ArmError::Conflict { .. }) && !e.is_transient());
    let e = get("busy").await;
    assert!(matches!(e, ArmError::Conflict { .. }) && e.is_transient());
    assert!(matches!(get("missing").await, ArmError::NotFound { .. }));
    let e = get("subnet-join").await;
    assert!(
        matches!(e, ArmError::LinkedAccessCheckFailed { .. }),
        "{e:?}"
    );
    assert!(e.hint().unwrap().contains("subnets/join/action"));
    let e = get("plan").await;
    assert_eq!(e.code(), "VMMarketplaceInvalidInput");
    assert!(e.hint().unwrap().contains("purchasePlan"));
    let e = get("terms").await;
    assert!(
        matches!(e, ArmError::MarketplaceTermsNotAccepted { .. }),
        "{e:?}"
    );
    assert_eq!(e.code(), "MarketplacePurchaseEligibilityFailed");
    assert!(
        e.to_string().contains("legal terms"),
        "inner details kept: {e}"
    );
    assert!(e.hint().unwrap().contains("az vm image terms accept"));
    // A VM PUT in a region the version is not replicated to (a 404 with a body).
    let e = arm
        .put::<_, serde_json::Value>(PutRequest {
            tenant: T2,
            aux_tenants: &[],
            path: "/subscriptions/bbbb/cases/not-here",
            api_version: "2025-04-01",
            body: &j!({}),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, ArmError::NotFound { .. }) && e.code() == "GalleryImageNotFound",
        "{e:?}"
    );
    assert!(e.hint().unwrap().contains("replicated"), "{:?}", e.hint());
    let e = get("zonal").await;
    assert!(e.is_capacity() && !e.is_transient(), "{e:?}");
    match get("odd").await {
        ArmError::BadRequest {
            status: 400,
            code,
            target,
            ..
        } => {
            assert_eq!(code, "SomethingNew");
            assert_eq!(target.as_deref(), Some("x"));
        }
        other => panic!("{other:?}"),
    }
    let none: Option<serde_json::Value> = arm
        .get_optional(T2, "/subscriptions/bbbb/cases/missing", "2025-04-01", &[])
        .await
        .unwrap();
    assert!(none.is_none());
}

#[tokio::test]
async fn urls_from_responses_are_followed_only_on_the_arm_host() {
    // Another loopback server stands for "somewhere else".
    let (elsewhere, elsewhere_log) =
        fake_server(|_| json(200, j!({"status": "Succeeded", "value": []}), &[])).await;
    let other = elsewhere.clone();
    let (base, _) = fake_server(move |r| match r.path.as_str() {
        VM => json(
            201,
            vm_body("Creating"),
            &[("azure-asyncoperation", format!("{}ops/1", other))],
        ),
        "/subscriptions/bbbb/resourceGroups" => json(
            200,
            j!({"value": [rg_body()], "nextLink": format!("{}page2", other)}),
            &[],
        ),
        _ => json(200, j!({}), &[]),
    })
    .await;
    let arm = client(&base, policy());
    let err = arm
        .put::<_, serde_json::Value>(PutRequest {
            tenant: T2,
            aux_tenants: &[T1],
            path: VM,
            api_version: "2025-04-01",
            body: &j!({}),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::UntrustedUrl { .. }), "{err:?}");
    let err = arm
        .list::<ResourceGroup>(T2, "/subscriptions/bbbb/resourceGroups", "2024-03-01", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::UntrustedUrl { .. }), "{err:?}");
    let forged = OperationRef {
        kind: PollKind::AzureAsyncOperation,
        url: format!("{elsewhere}ops/1"),
        resource_path: VM.into(),
        api_version: "2025-04-01".into(),
        retry_after_secs: None,
    };
    assert!(matches!(
        arm.operation_status(T2, &forged).await,
        Err(ArmError::UntrustedUrl { .. })
    ));
    let https = OperationRef {
        url: forged.url.replace("http://", "https://"),
        ..forged.clone()
    };
    assert!(matches!(
        arm.operation_status(T2, &https).await,
        Err(ArmError::UntrustedUrl { .. })
    ));
    // On the ARM host but under another subscription, or navigating out of this one.
    for url in [
        format!(
            "{base}subscriptions/cccc/providers/Microsoft.Compute/locations/westus/operations/1"
        ),
        format!(
            "{base}subscriptions/bbbb/../cccc/providers/Microsoft.Compute/locations/westus/operations/1"
        ),
        format!("{base}subscriptions/bbbb/%2e%2e/cccc/operations/1"),
        format!("{base}providers/Microsoft.Compute/locations/westus/operations/1"),
    ] {
        let foreign = OperationRef {
            url: url.clone(),
            ..forged.clone()
        };
        assert!(
            matches!(
                arm.operation_status(T2, &foreign).await,
                Err(ArmError::UntrustedUrl { .. })
            ),
            "{url}"
        );
    }
    assert!(
        elsewhere_log.lock().unwrap().is_empty(),
        "no token ever went elsewhere"
    );
}

#[tokio::test]
async fn list_follows_next_link_on_the_same_host() {
    let (base, log) = fake_server(|r| match r.path.as_str() {
        "/subscriptions/bbbb/resourceGroups" => json(200, j!({"value": [rg_body()], "nextLink": format!("{}/subscriptions/bbbb/resourceGroups2?api-version=2024-03-01&$skiptoken=x", r.origin())}), &[]),
        _ => json(200, j!({"value": [rg_body(), rg_body()]}), &[]),
    })
    .await;
    let groups: Vec<ResourceGroup> = client(&base, policy())
        .list(T2, "/subscriptions/bbbb/resourceGroups", "2024-03-01", &[])
        .await
        .unwrap();
    assert_eq!(groups.len(), 3);
    assert!(log.lock().unwrap()[1].query.contains("skiptoken=x"));
}

#[test]
fn plain_http_to_a_non_loopback_arm_endpoint_is_refused() {
    let err = Endpoints::from_vars(vars(&[(
        "IMAGEFERRY_ARM_ENDPOINT",
        "http://management.example.com",
    )]))
    .unwrap_err();
    assert!(matches!(err, ConfigError::InsecureEndpoint { .. }));
    let err = Endpoints::from_vars(vars(&[(
        "AZURE_AUTHORITY_HOST",
        "http://192.168.1.10:8080",
    )]))
    .unwrap_err();
    assert!(err.to_string().contains("AZURE_AUTHORITY_HOST"), "{err}");
}

#[tokio::test]
async fn provisioning_state_is_polled_when_there_is_no_operation_header() {
    let (base, log) = fake_server(|r| match (r.method.as_str(), r.seen) {
        ("PUT", _) => json(201, vm_body("Creating"), &[]),
        ("GET", 0) => json(200, vm_body("Updating"), &[]),
        _ => json(200, vm_body("Succeeded"), &[]),
    })
    .await;
    let req = PutRequest {
        tenant: T2,
        aux_tenants: &[],
        path: VM,
        api_version: "2025-04-01",
        body: &VirtualMachine::default(),
    };
    let vm: VirtualMachine = client(&base, policy()).put_and_wait(req).await.unwrap();
    assert_eq!(
        vm.properties.provisioning_state,
        Some(ProvisioningState::Succeeded)
    );
    assert_eq!(log.lock().unwrap().len(), 3);

    let (base, _) = fake_server(|r| match r.method.as_str() {
        "PUT" => json(200, vm_body("Updating"), &[]),
        _ => json(200, vm_body("Failed"), &[]),
    })
    .await;
    let err = client(&base, policy())
        .put_and_wait::<_, VirtualMachine>(req)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::OperationFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn resource_paths_are_pushed_segment_by_segment_and_never_navigate() {
    let (base, log) = fake_server(|_| json(200, rg_body(), &[])).await;
    let arm = client(&base, policy());
    for bad in [
        "/subscriptions/bbbb/resourceGroups/../../providers/x",
        "/subscriptions/bbbb/resourceGroups/%2e%2e",
        "/subscriptions/bbbb/resourceGroups/a%2fb",
        "/subscriptions/bbbb/resourceGroups/./x",
        "/subscriptions/bbbb//resourceGroups/x",
        "/subscriptions/bbbb/resourceGroups/a\\b",
        "/subscriptions/bbbb/resourceGroups/a b",
        "subscriptions/bbbb",
        "/subscriptions/bbbb?x=1",
        "https://elsewhere/subscriptions/bbbb",
    ] {
        let err = arm
            .get::<serde_json::Value>(T2, bad, "2024-03-01", &[])
            .await
            .unwrap_err();
        assert!(matches!(err, ArmError::InvalidRequest(_)), "{bad}: {err:?}");
    }
    assert!(log.lock().unwrap().is_empty(), "no request was sent");
    arm.get::<serde_json::Value>(
        T2,
        "/subscriptions/bbbb/resourceGroups/my(rg)",
        "2024-03-01",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        log.lock().unwrap()[0].path,
        "/subscriptions/bbbb/resourceGroups/my(rg)"
    );
}
