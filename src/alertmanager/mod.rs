//! Alertmanager's API v2, as Prometheus, `amtool` and dashboards speak it.
//!
//! [`postable`] turns the alerts Prometheus posts into mauve updates (the
//! same protobuf a datagram carries, so from there they go the way of any
//! packet); [`matchers`] is Alertmanager's label matching; [`labels`] is how
//! a mauved alert looks as an Alertmanager alert. Pure: no clock, socket or
//! store; the HTTP handlers are in `http/v2.rs`.

pub mod labels;
pub mod matchers;
pub mod postable;
pub mod silences;
