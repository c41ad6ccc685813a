//! mauved: an alert server that speaks the mauvealert wire protocol.
//!
//! The modules follow the path of an alert:
//! [`wire`] (bytes to a checked update; [`events`] does the same for JSON
//! posted over HTTP, both reading times with [`timespec`]) → [`ingest`]
//! (UDP sockets, de-dup, batches) → [`scheduler`] (the single writer:
//! updates, timers, actions) → [`alert`] (the pure state machine it calls) →
//! [`index`] (every alert, in memory) → [`routing`] (who is told) →
//! [`store`] (sled, written behind in atomic batches) →
//! [`notify`] (durable queues, at-least-once delivery) → [`http`] (status,
//! API, metrics, actions). [`view`] is how an alert is shown to people and
//! programs; [`clock`] is the time every stage is given; [`config`] and
//! [`metrics`] serve them all; [`daemon`] wires them together. [`send`] is
//! the sending side (the `mauvesend` binary and the load tool are built on it).
//!
//! The modules in layers, leaves first; a module uses only modules of lower
//! layers (`tests/layers.rs` checks it): [`alert`]; [`clock`], [`timespec`], [`throttle`];
//! [`wire`], [`view`], [`config`]; [`events`], [`send`], [`routing`];
//! [`store`], [`metrics`]; [`index`]; [`scheduler`], [`notify`]; [`ingest`];
//! [`heartbeat`], [`http`]; [`daemon`].

pub mod alert;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod events;
pub mod heartbeat;
pub mod http;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod routing;
pub mod scheduler;
pub mod send;
pub mod store;
pub mod throttle;
pub mod timefmt;
pub mod timespec;
pub mod view;
pub mod wire;
