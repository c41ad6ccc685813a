//! The delivery workers, one per `[[notifier]]`, and what a reload changes
//! in them.
//!
//! The pool owns the workers: it starts one per notifier at start, and on
//! a reload it starts the ones added, stops the ones removed (an attempt in
//! flight finishes or is dropped, its message stays queued) and hands the
//! ones changed their new notifier and delivery settings, which each takes
//! for its next attempt. A worker for a name is never started while the
//! last one of that name still runs: one queue, one reader.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(crate) use crate::scheduler::Wakes;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::payload::Links;
use super::worker::{Setup, Worker};
use super::{Health, Notifier};
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::metrics::Metrics;
use crate::store::Store;

/// A worker stopped by a reload gets this long to finish before one of the
/// same name is started anyway (real time: past its attempt's grace).
const STOPPED_WITHIN: Duration = Duration::from_secs(10);

/// What every worker shares.
pub(crate) struct Common {
    pub(crate) cluster: Option<Arc<Cluster>>,
    pub(crate) store: Arc<Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    /// Signs the action links in messages.
    pub(crate) link_secret: crate::links::SharedSecret,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

/// One running worker.
struct Running {
    config: config::Notifier,
    setup: watch::Sender<Arc<Setup>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The delivery settings a reload may change, besides the notifiers.
#[derive(Clone, PartialEq)]
struct Delivery {
    base_url: String,
    max_age_s: u64,
    shadow: bool,
    links: Option<Links>,
}

impl Delivery {
    fn of(config: &Config, base_url: &str, secret: &crate::links::SharedSecret) -> Delivery {
        Delivery {
            base_url: base_url.to_owned(),
            max_age_s: config.delivery.max_age.0,
            shadow: config.delivery.shadow,
            links: config.http.message_links.then(|| Links {
                secret: secret.clone(),
                valid_s: config.http.message_links_for.0,
            }),
        }
    }
}

/// The workers, by notifier name.
pub(crate) struct Pool {
    common: Common,
    wakes: Arc<Wakes>,
    health: Arc<Health>,
    /// Notifiers the embedding program gave by name: kept across reloads.
    given: HashMap<String, Arc<dyn Notifier>>,
    running: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    workers: BTreeMap<String, Running>,
    /// Workers told to stop by a reload, until they have.
    stopping: HashMap<String, JoinHandle<()>>,
    delivery: Option<Delivery>,
}

impl Pool {
    /// Starts one worker per `[[notifier]]` (or the notifier the caller
    /// gave for that name).
    pub(crate) async fn start(
        config: &Config,
        given: Vec<(String, Box<dyn Notifier>)>,
        base_url: &str,
        common: Common,
    ) -> Arc<Pool> {
        let wakes = Arc::new(Wakes::default());
        let pool = Arc::new(Pool {
            common,
            wakes,
            health: Arc::new(Health::default()),
            given: given
                .into_iter()
                .map(|(name, notifier)| (name, Arc::from(notifier)))
                .collect(),
            running: tokio::sync::Mutex::default(),
        });
        pool.reconfigure(config, base_url).await;
        pool
    }

    /// Which notifiers are failing (`/health`, the page).
    pub(crate) fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Each notifier's wake-up (the scheduler's writer).
    pub(crate) fn wakes(&self) -> &Arc<Wakes> {
        &self.wakes
    }

    /// Makes the workers those of `config`: starts the added, stops the
    /// removed, hands the changed their new notifier and settings.
    pub(crate) async fn reconfigure(&self, config: &Config, base_url: &str) {
        let mut state = self.running.lock().await;
        let delivery = Delivery::of(config, base_url, &self.common.link_secret);
        let delivery_changed = state.delivery.as_ref() != Some(&delivery);
        state.delivery = Some(delivery.clone());
        let wanted: BTreeMap<&str, &config::Notifier> =
            config.notifiers.iter().map(|n| (n.name(), n)).collect();
        let removed: Vec<String> = state
            .workers
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(running) = state.workers.remove(&name) {
                running.stop.cancel();
                self.wakes.remove(&name);
                self.health.delivered(&name);
                tracing::info!(notifier = %name, "notifier removed: its worker stops");
                state.stopping.insert(name, running.task);
            }
        }
        for (name, notifier) in wanted {
            match state.workers.get_mut(name) {
                Some(running) if running.config == *notifier && !delivery_changed => {}
                Some(running) => {
                    let changed = running.config != *notifier;
                    running.config = notifier.clone();
                    let setup = self.setup(notifier, &delivery);
                    running.setup.send_replace(Arc::new(setup));
                    if changed {
                        self.health.delivered(name);
                        tracing::info!(notifier = %name, "notifier changed: the next attempt uses the new settings");
                    }
                }
                None => {
                    if let Some(task) = state.stopping.remove(name) {
                        if tokio::time::timeout(STOPPED_WITHIN, task).await.is_err() {
                            tracing::warn!(notifier = %name, "the notifier's last worker has not stopped: starting the new one anyway (a message may be sent twice)");
                        }
                    }
                    let running = self.spawn(notifier, &delivery);
                    state.workers.insert(name.to_owned(), running);
                }
            }
        }
        state.stopping.retain(|_, task| !task.is_finished());
        self.warn_orphan_queues(&state);
    }

    fn setup(&self, notifier: &config::Notifier, delivery: &Delivery) -> Setup {
        Setup {
            notifier: match self.given.get(notifier.name()) {
                Some(given) => given.clone(),
                None => Arc::from(super::build(notifier)),
            },
            base_url: delivery.base_url.clone(),
            links: delivery.links.clone(),
            max_age_s: delivery.max_age_s,
            shadow: delivery.shadow,
        }
    }

    fn spawn(&self, notifier: &config::Notifier, delivery: &Delivery) -> Running {
        let name = notifier.name();
        let common = &self.common;
        common.metrics.notifier_known(name);
        let (setup, setup_rx) = watch::channel(Arc::new(self.setup(notifier, delivery)));
        let stop = common.shutdown.child_token();
        let worker = Worker {
            name: name.to_owned(),
            cluster: common.cluster.clone(),
            setup: setup_rx,
            store: common.store.clone(),
            metrics: common.metrics.clone(),
            clock: common.clock.clone(),
            wake: self.wakes.insert(name),
            wakes: self.wakes.clone(),
            history: Mutex::default(),
            health: self.health.clone(),
            shutdown: stop.clone(),
        };
        Running {
            config: notifier.clone(),
            setup,
            stop,
            task: common.tasks.spawn(worker.run()),
        }
    }

    /// Says so when messages wait for a notifier that is not configured.
    fn warn_orphan_queues(&self, state: &State) {
        let owners = match self.common.store.queue_owners() {
            Ok(owners) => owners,
            Err(err) => {
                tracing::error!(%err, "cannot read the notification queue");
                return;
            }
        };
        for owner in owners {
            if !state.workers.contains_key(&owner) {
                tracing::warn!(
                    notifier = %owner,
                    "notifications are queued for a notifier that is no longer configured; \
                     they stay queued until it is configured again"
                );
            }
        }
    }
}
