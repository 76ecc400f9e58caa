//! `imageferry dev --scale-set`: a scale set through the local stack. The sample scale-set
//! request (`examples/deployment-request.scale-set.json`) for 1.0.0 creates the scale set; then
//! 1.1.0 is published in the stand-in's gallery (a version PUT, as an image pipeline does it,
//! with the token of a publisher the run's scenario makes Contributor on the gallery) and the
//! same request for 1.1.0 rolls it through the instances in health-gated batches, every batch
//! shown as its events arrive. Exit 0 when both deployments succeeded and every instance of the
//! scale set runs 1.1.0 (read from the stand-in's instance records).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_clients::servicebus::ServiceBusReceiver;
use azure_clients::{OutgoingMessage, ServiceBusConnection, ServiceBusSender};
use local_run::stack::seed;
use serde_json::{Value, json};

use super::error::DevError;
use super::{Stack, follow};
use crate::exit::Exit;

/// The sample scale-set request.
pub const SAMPLE: &str = "examples/deployment-request.scale-set.json";
/// The object id of the image pipeline that publishes 1.1.0 (Contributor on the gallery in the
/// run's scenario only).
const PUBLISHER: &str = "66666666-6666-4666-8666-666666666666";
/// The version the scale set is created from, and the one rolled through it.
const FIRST: &str = "1.0.0";
const NEXT: &str = "1.1.0";
/// The pause between batches of a local run (the handler's clock is real time; the sample's
/// `pauseBetweenBatches` is a production-like 30s).
const LOCAL_PAUSE: &str = "2s";
/// GalleryRP's api-version (the handler's `Api::Gallery`).
const GALLERY_API: &str = "2025-03-03";

/// The scenario of a scale-set run: `base` (TOML) plus the publisher's role on the gallery.
pub fn scenario(base: &str) -> String {
    format!(
        "{base}\n\n# imageferry dev --scale-set: the image pipeline that publishes {NEXT}.\n[[role_assignments]]\nprincipal = \"{PUBLISHER}\"\nrole = \"Contributor\"\nscope = \"{}\"\n",
        seed::GALLERY_ID
    )
}

/// The sample request for `version`, with the deployment id `{scale set}-{version}` and the
/// local run's pause between batches.
fn request(template: &Value, version: &str) -> (String, Value) {
    let mut body = template.clone();
    body["scaleSet"]["pauseBetweenBatches"] = json!(LOCAL_PAUSE);
    let name = body["scaleSet"]["name"].as_str().unwrap_or("web-fleet");
    let id = format!("{name}-{}", version.replace('.', "-"));
    body["deploymentId"] = json!(id);
    if let Some(image) = body["image"]["id"].as_str() {
        let definition = image.rsplit_once("/versions/").map_or(image, |(d, _)| d);
        body["image"]["id"] = json!(format!("{definition}/versions/{version}"));
    }
    (id, body)
}

/// Runs the two deployments.
pub async fn drive(
    stack: &Stack,
    root: &Path,
    timeout: Duration,
    json: bool,
) -> Result<(Exit, Value), DevError> {
    let path = root.join(SAMPLE);
    let template: Value = serde_json::from_str(&std::fs::read_to_string(&path).map_err(
        |source| DevError::File {
            path: path.clone(),
            source,
        },
    )?)
    .map_err(|e| DevError::Bus(format!("{}: {e}", path.display())))?;
    let name = template["scaleSet"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    say!(json, "azure stand-in   {}", stack.azure.base_url);
    say!(
        json,
        "logs             {}/{{host,handler,azure-sim,servicebus}}.log",
        stack.dir.display()
    );
    say!(
        json,
        "request          {SAMPLE} (pauseBetweenBatches {LOCAL_PAUSE} in this local run)"
    );
    let client =
        ServiceBusReceiver::from_connection(ServiceBusConnection::parse(&stack.connection)?);
    let sender = ServiceBusSender::from_connection(ServiceBusConnection::parse(&stack.connection)?);
    let tracker = Arc::new(follow::Tracker::default());
    let display = Arc::new(follow::Display::new(1));
    let shown = display.clone();
    let followers = follow::start(
        client,
        tracker.clone(),
        1,
        Arc::new(move |e| shown.event(e)),
    );
    let deadline = Instant::now() + timeout;
    let mut outcome = Exit::Succeeded;
    for version in [FIRST, NEXT] {
        if version == NEXT {
            publish(&stack.azure.base_url, &template, version).await?;
            say!(
                json,
                "published        {NEXT} of the image in the stand-in's gallery (a version PUT, as an image pipeline does)"
            );
        }
        let (id, body) = request(&template, version);
        say!(
            json,
            "sending          scale set {name} on {version} ({id}) -> deployment-requested"
        );
        tracker.sent(&id);
        sender
            .send(
                "deployment-requested",
                OutgoingMessage {
                    body: body.to_string(),
                    message_id: Some(format!("{id}:request")),
                    ..OutgoingMessage::default()
                },
            )
            .await?;
        let status = loop {
            let done = tracker
                .deployments()
                .get(&id)
                .and_then(|d| d.terminal.first().cloned());
            if let Some(s) = done {
                break Some(s);
            }
            if Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match status.as_deref() {
            Some("succeeded") => {}
            Some(other) => {
                display.finish();
                say!(json, "done             {id}: {other}");
                outcome = Exit::Failed;
                break;
            }
            None => {
                display.finish();
                say!(
                    json,
                    "done             {id}: no terminal event within {} s",
                    timeout.as_secs()
                );
                outcome = Exit::TimedOut;
                break;
            }
        }
    }
    display.finish();
    for f in followers {
        f.abort();
    }
    let versions = instance_versions(&stack.azure.base_url, &name).await?;
    let on_next = versions.iter().filter(|v| v.as_str() == NEXT).count();
    say!(
        json,
        "scale set        {name}: {on_next} of {} instance(s) run {NEXT} ({})",
        versions.len(),
        versions.join(", ")
    );
    if outcome == Exit::Succeeded && (versions.is_empty() || on_next != versions.len()) {
        say!(json, "violation        not every instance runs {NEXT}");
        outcome = Exit::Failed;
    }
    let report = json!({
        "outcome": outcome.name(),
        "scaleSet": name,
        "version": NEXT,
        "instances": versions.len(),
        "onVersion": on_next,
        "instanceVersions": versions,
    });
    Ok((outcome, report))
}

/// PUT of `version` of the template's image definition, with the publisher's tenant-1 token.
async fn publish(azure: &str, template: &Value, version: &str) -> Result<(), DevError> {
    let base = azure.trim_end_matches('/');
    let http = reqwest::Client::new();
    let token_url = format!("{base}/_sim/token");
    let token: Value = http
        .post(&token_url)
        .json(&json!({"tenant": seed::TENANT_1, "audience": "https://management.azure.com/", "object_id": PUBLISHER}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|source| DevError::StandIn {
            url: token_url.clone(),
            source,
        })?
        .json()
        .await
        .map_err(|source| DevError::StandIn {
            url: token_url,
            source,
        })?;
    let image = template["image"]["id"].as_str().unwrap_or_default();
    let definition = image.rsplit_once("/versions/").map_or(image, |(d, _)| d);
    let url = format!("{base}{definition}/versions/{version}?api-version={GALLERY_API}");
    let source_image = format!(
        "/subscriptions/{}/resourceGroups/myGalleryRG/providers/Microsoft.Compute/images/web-{version}",
        seed::SUBSCRIPTION_1
    );
    http.put(&url)
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .json(&json!({
            "location": "South Central US",
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "South Central US"}]},
                "storageProfile": {"source": {"id": source_image}}
            }
        }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map(drop)
        .map_err(|source| DevError::StandIn { url, source })
}

/// The version each instance of scale set `name` runs, in instance order.
async fn instance_versions(azure: &str, name: &str) -> Result<Vec<String>, DevError> {
    let url = format!("{}/_sim/resources", azure.trim_end_matches('/'));
    let resources: Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|source| DevError::StandIn {
            url: url.clone(),
            source,
        })?
        .json()
        .await
        .map_err(|source| DevError::StandIn {
            url: url.clone(),
            source,
        })?;
    let marker = format!("/virtualMachineScaleSets/{name}/virtualMachines/").to_ascii_lowercase();
    let mut instances: Vec<(u64, String)> = resources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["type"] == "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
                && r["id"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().contains(&marker))
        })
        .map(|r| {
            let b = &r["body"];
            (
                b["instanceId"]
                    .as_str()
                    .and_then(|i| i.parse().ok())
                    .unwrap_or(0),
                b["properties"]["storageProfile"]["imageReference"]["exactVersion"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect();
    instances.sort();
    Ok(instances.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_differ_only_by_version_and_id() {
        let template: Value = serde_json::from_str(include_str!(
            "../../../../../examples/deployment-request.scale-set.json"
        ))
        .unwrap();
        let (id, body) = request(&template, "1.1.0");
        assert_eq!(id, "web-fleet-1-1-0");
        assert!(
            body["image"]["id"]
                .as_str()
                .unwrap()
                .ends_with("/versions/1.1.0")
        );
        let req: imageferry_contract::DeploymentRequest = serde_json::from_value(body).unwrap();
        req.validate().unwrap();
        let s = scenario("version = 1");
        assert!(s.contains(PUBLISHER) && s.contains(seed::GALLERY_ID));
    }
}
