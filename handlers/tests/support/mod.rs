//! In-process test bench: the Azure stand-in (azure-sim), the Service Bus stand-in
//! (servicebus-emulator, in memory, with its journal of sends), and the handler's router.
//! [`Bench::run`] plays the broker's delivery itself, on the bench's own clock: it delivers every
//! step message the stand-in recorded to its function (in visibility order, jumping both clocks
//! to a scheduled message's time), encoded as the local Functions host encodes it, redelivers on
//! a non-2xx answer with DeliveryCount + 1 up to the max delivery count, and stops when no message
//! is pending.

#![allow(dead_code)]

use azure_clients::{
    ArmClient, Endpoints, KeyVaultSecrets, OutgoingMessage, RetryPolicy, ServiceBusConnection,
    ServiceBusSender, TokenProvider,
};
use azure_sim::{Scenario, SimHandle};
use functions_runtime::host_wire::{HostInvocation, request_body};
use imageferry_contract::{DeploymentEvent, ResourceId, Status, Step};
use imageferry_handlers::{AllowList, AllowedTarget, App, Config};
use serde_json::{Value, json};
use servicebus_emulator::{EmulatorHandle, EmulatorOptions, SentMessage};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub const TENANT1: &str = "11111111-1111-4111-8111-111111111111";
pub const SUB1: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
pub const TENANT2: &str = "22222222-2222-4222-8222-222222222222";
pub const SUB2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
pub const CLIENT_ID: &str = "33333333-3333-4333-8333-333333333333";
pub const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";
pub const WINDOWS_PASSWORD: &str = "Local-Sim-Passw0rd!";
pub const EVENTS: &str = "deployment-events";

/// The version id of image definition `image` in the seeded gallery.
pub fn version_id(image: &str) -> String {
    format!("{GALLERY}/images/{image}/versions/1.0.0")
}

/// A scenario whose LROs finish at once (the bench moves time itself) and whose `Retry-After`
/// is 0, so nothing sleeps.
pub fn scenario() -> Scenario {
    let mut s = Scenario::seed();
    s.lro.network_secs = 0.0;
    s.lro.gallery_secs = 0.0;
    s.lro.retry_after_secs = 0;
    s.faults.retry_after_secs = 0;
    s
}

/// Settings allowing the seeded gallery (all three forms) and the seeded target, with backoffs
/// of 10 s → 60 s and a 10 s provisioning poll (simulated: the bench jumps the clocks).
pub fn config() -> Config {
    let mut c = Config::new(
        TENANT1,
        AllowList::Only(
            [
                GALLERY.to_string(),
                format!("/SharedGalleries/{SUB1}-MYGALLERY"),
                "/CommunityGalleries/myGalleryPublic-0a1b2c3d".into(),
            ]
            .iter()
            .map(|g| ResourceId::parse(g).unwrap())
            .collect(),
        ),
        AllowList::Only(vec![AllowedTarget {
            tenant_id: TENANT2.into(),
            subscription_id: SUB2.into(),
            resource_group: Some("myResourceGroup".into()),
        }]),
    );
    c.replication_backoff_initial = Duration::from_secs(10);
    c.replication_backoff_cap = Duration::from_secs(60);
    c.provisioning_poll = Duration::from_secs(10);
    c.max_delivery_count = 5;
    c
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_total: Duration::from_secs(5),
        poll_interval: Duration::from_millis(5),
        operation_timeout: Duration::from_secs(10),
    }
}

/// A Linux request for the seeded generalized image, in the seeded target.
pub fn linux_request(id: &str) -> Value {
    json!({
        "deploymentId": id,
        "image": { "id": version_id("myImageDefinition"), "tenantId": TENANT1 },
        "target": { "tenantId": TENANT2, "subscriptionId": SUB2, "resourceGroup": "myResourceGroup", "location": "southcentralus" },
        "vm": { "name": "myVM", "size": "Standard_D2s_v5", "adminUsername": "azureuser",
                "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                "publicIp": true, "tags": { "team": "web" } },
        "network": { "allowInboundFrom": ["203.0.113.0/24"] }
    })
}

/// One delivery the bench made.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub function: String,
    pub message_id: Option<String>,
    pub delivery_count: u32,
    pub status: u16,
}

pub struct Bench {
    pub sim: SimHandle,
    /// The Service Bus stand-in (its journal says what was sent and refused).
    pub capture: EmulatorHandle,
    pub app: Arc<App>,
    router: axum::Router,
    done: HashSet<i64>,
    pub deliveries: Vec<Delivered>,
    /// Deliver every message a second time after it completed (at-least-once delivery).
    pub deliver_twice: bool,
}

impl Bench {
    pub async fn start(scenario: Scenario, config: Config) -> Bench {
        let sim = azure_sim::start(scenario, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("azure-sim starts");
        let capture = servicebus_emulator::start(EmulatorOptions::in_memory())
            .await
            .expect("the Service Bus stand-in starts");
        let endpoints = Endpoints::local(&sim.base_url().parse().unwrap()).unwrap();
        let tokens = token_provider(&endpoints);
        let arm = ArmClient::new(endpoints.clone(), tokens.clone(), retry());
        let bus = ServiceBusSender::from_connection(
            ServiceBusConnection::parse(&capture.connection_string()).unwrap(),
        )
        .with_retry(retry());
        let secrets = KeyVaultSecrets::new(&endpoints, tokens, retry());
        let app = Arc::new(App::new(config, arm, bus, secrets));
        let router = imageferry_handlers::functions(app.clone()).into_router();
        Bench {
            sim,
            capture,
            app,
            router,
            done: HashSet::new(),
            deliveries: Vec::new(),
            deliver_twice: false,
        }
    }

    pub async fn seeded() -> Bench {
        Bench::start(scenario(), config()).await
    }

    /// From now on the handler reaches ARM and Key Vault with `arm` and `secrets` (another
    /// credential or cloud).
    pub fn handler_clients(&mut self, arm: ArmClient, secrets: KeyVaultSecrets) {
        let app = Arc::new(App::new(
            self.app.config.clone(),
            arm,
            self.app.bus.clone(),
            secrets,
        ));
        self.router = imageferry_handlers::functions(app.clone()).into_router();
        self.app = app;
    }

    /// From now on the handler sends with `bus` (the bench itself still submits with the right
    /// credentials beforehand).
    pub fn handler_bus(&mut self, bus: ServiceBusSender) {
        let app = Arc::new(App::new(
            self.app.config.clone(),
            self.app.arm.clone(),
            bus,
            self.app.secrets.clone(),
        ));
        self.router = imageferry_handlers::functions(app.clone()).into_router();
        self.app = app;
    }

    /// From now on the handler also serves the two rollout functions with `rollouts`.
    pub fn with_rollouts(&mut self, rollouts: Arc<imageferry_handlers::rollout::Rollouts>) {
        let functions = imageferry_handlers::functions(self.app.clone());
        self.router =
            imageferry_handlers::rollout::functions(functions, self.app.clone(), rollouts)
                .into_router();
    }

    /// Sends `body` to `queue` and delivers it once as delivery `delivery_count`; the answer's
    /// status.
    pub async fn send_and_deliver(&mut self, queue: &str, body: &str, delivery_count: u32) -> u16 {
        self.submit_raw(queue, body).await;
        let message = self.last_on(queue);
        self.done.insert(message.sequence_number);
        self.deliver_edited(&message, delivery_count, |_| {}).await
    }

    /// The message sent last to `queue`.
    pub fn last_on(&self, queue: &str) -> SentMessage {
        self.capture
            .sent(queue)
            .pop()
            .expect("a message on the queue")
    }

    /// The Key Vault secret id of the seeded Windows password.
    pub fn password_secret_id(&self) -> String {
        format!("{}/secrets/vm-admin-password", self.sim.base_url())
    }

    /// Sends a JSON request to `deployment-requested`, as a pipeline would.
    pub async fn submit(&self, body: &Value) {
        self.submit_raw(Step::DeploymentRequested.as_str(), &body.to_string())
            .await;
    }

    /// Sends `body` as-is to `queue`.
    pub async fn submit_raw(&self, queue: &str, body: &str) {
        let message = OutgoingMessage {
            body: body.to_string(),
            content_type: "application/json".into(),
            message_id: Some(uuid_like(self.capture.all().len())),
            correlation_id: None,
            scheduled_enqueue_time: None,
            time_to_live: None,
            label: None,
            application_properties: BTreeMap::new(),
        };
        self.app
            .bus
            .send(queue, message)
            .await
            .expect("capture accepts");
    }

    /// Delivers until no step message is pending; returns the events published.
    pub async fn run(&mut self) -> Vec<DeploymentEvent> {
        for _ in 0..1000 {
            let Some(next) = self.next_pending() else {
                return self.events();
            };
            self.done.insert(next.sequence_number);
            let now = self.app.clock.now();
            let due = next.visible_at();
            if due > now {
                let wait: Duration = (due - now).try_into().unwrap();
                self.app.clock.advance(wait);
                self.sim.advance(wait);
            }
            let max = self.app.config.max_delivery_count;
            let mut count = 1;
            loop {
                let status = self.deliver(&next, count).await;
                if (200..300).contains(&status) {
                    if self.deliver_twice {
                        self.deliver(&next, count + 1).await;
                    }
                    break;
                }
                if count >= max {
                    break; // dead-lettered
                }
                count += 1;
            }
        }
        panic!("the pipeline did not settle after 1000 deliveries");
    }

    fn next_pending(&self) -> Option<SentMessage> {
        let queues: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        self.capture
            .all()
            .into_iter()
            .filter(|m| {
                !m.duplicate
                    && queues.contains(&m.entity.as_str())
                    && !self.done.contains(&m.sequence_number)
            })
            .min_by_key(|m| (m.visible_at(), m.sequence_number))
    }

    async fn deliver(&mut self, m: &SentMessage, delivery_count: u32) -> u16 {
        self.deliver_edited(m, delivery_count, |_| {}).await
    }

    /// Delivers `m` once after `edit` changed what the host would send (system properties).
    pub async fn deliver_edited(
        &mut self,
        m: &SentMessage,
        delivery_count: u32,
        edit: impl FnOnce(&mut functions_runtime::host_wire::HostMessage),
    ) -> u16 {
        let invocation = HostInvocation::new(m.entity.clone(), "message");
        let mut host_message = functions_host::host_message(&m.received(delivery_count));
        edit(&mut host_message);
        let body = request_body(&host_message, &invocation);
        let mut request = http::Request::post(invocation.path());
        for (name, value) in invocation.headers() {
            request = request.header(name, value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(axum::body::Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        self.deliveries.push(Delivered {
            function: m.entity.clone(),
            message_id: m.broker.message_id.clone(),
            delivery_count,
            status,
        });
        status
    }

    /// Events published (duplicates dropped, as duplicate detection would).
    pub fn events(&self) -> Vec<DeploymentEvent> {
        self.capture
            .accepted(EVENTS)
            .iter()
            .map(|m| serde_json::from_str(&m.body).expect("events decode"))
            .collect()
    }

    /// The one terminal event; panics unless there is exactly one.
    pub fn terminal(&self) -> DeploymentEvent {
        let terminal: Vec<DeploymentEvent> = self
            .events()
            .into_iter()
            .filter(|e| e.status.is_terminal())
            .collect();
        assert_eq!(
            terminal.len(),
            1,
            "expected one terminal event, got {terminal:#?}"
        );
        terminal.into_iter().next().unwrap()
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.events().iter().map(|e| e.status).collect()
    }

    /// Deliveries to `function`.
    pub fn deliveries_to(&self, step: Step) -> Vec<&Delivered> {
        self.deliveries
            .iter()
            .filter(|d| d.function == step.as_str())
            .collect()
    }

    /// ARM requests the simulator saw with `method` on paths ending in `suffix`.
    pub fn arm_requests(&self, method: &str, suffix: &str) -> Vec<azure_sim::RequestRecord> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == method
                    && r.path
                        .to_ascii_lowercase()
                        .ends_with(&suffix.to_ascii_lowercase())
            })
            .collect()
    }

    /// The resource body the simulator holds for `id`.
    pub fn resource(&self, id: &str) -> Value {
        self.sim
            .resource(id)
            .unwrap_or_else(|| panic!("no resource {id}"))
            .body
    }
}

/// Log lines written while a [`LogBuffer::capture`] guard lives (the tests run on the current
/// thread, so the step's lines land here).
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Captures every line of this thread, at every level, until the guard is dropped.
    pub fn capture() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The first ERROR line containing `text`; panics, showing every line, when there is none.
    pub fn error_with(&self, text: &str) -> String {
        self.errors()
            .into_iter()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no error line with {text:?}: {}", self.text()))
    }

    /// The lines at ERROR level.
    pub fn errors(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(" ERROR "))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A sender to `capture` whose key is wrong: every send is refused with 401.
pub fn wrong_key_bus(capture: &EmulatorHandle) -> ServiceBusSender {
    let wrong: String = capture
        .connection_string()
        .split(';')
        .map(|part| {
            if part.starts_with("SharedAccessKey=") {
                "SharedAccessKey=d3JvbmcgZGV2ZWxvcG1lbnQga2V5".to_string()
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    ServiceBusSender::from_connection(ServiceBusConnection::parse(&wrong).unwrap())
}

/// A token provider with the seeded app registration's secret, asking `endpoints`' authority.
pub fn token_provider(endpoints: &Endpoints) -> Arc<TokenProvider> {
    let vars: BTreeMap<&str, &str> = [
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", TENANT1),
        ("AZURE_CLIENT_SECRET", "local-sim-secret"),
    ]
    .into();
    Arc::new(TokenProvider::from_vars(endpoints, |k| vars.get(k).map(|v| v.to_string())).unwrap())
}

/// An RFC 3339 instant `days` from the bench's clock.
pub fn days_from_now(bench: &Bench, days: i64) -> String {
    (bench.app.clock.now() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// VM id of `name` in the seeded target resource group.
pub fn vm_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUB2}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/{name}"
    )
}

fn uuid_like(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
