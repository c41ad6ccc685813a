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
//! The modules are declared below in layers, leaves first; a module uses
//! only modules of lower layers, so there is no import cycle
//! (`tests/layers.rs` checks it against this list).

// The alert and its words: records, events, messages, history lines.
pub mod alert;
// Leaves: time, its formats, action links, a log throttle, text from outside.
pub mod clock;
pub mod links;
pub mod throttle;
pub mod timefmt;
pub mod timespec;
pub mod untrusted;
// Reading what comes in: packets, how alerts are shown, the configuration.
pub mod config;
pub mod view;
pub mod wire;
// Alertmanager's API: labels, matchers, silences, Prometheus's alerts.
pub mod alertmanager;
// JSON submissions, the sending side, who is told.
pub mod events;
pub mod routing;
pub mod send;
// Reading a mauve server's configuration.
pub mod import;
// What a shift saw, from history lines and the alerts open.
pub mod handover;
// Disk and counters.
pub mod metrics;
pub mod store;
// Every alert in memory.
pub mod index;
// The one thread that changes alerts.
pub mod scheduler;
// Two stations: who delivers, and actions shared.
pub mod cluster;
// Delivery.
pub mod notify;
// Sockets in.
pub mod ingest;
// Silences: made, kept, started and ended in one room.
pub mod silences;
// HTTP, and the station's own heartbeat.
pub mod heartbeat;
pub mod http;
// Everything wired together.
pub mod daemon;
