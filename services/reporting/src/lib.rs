//! The reporting service: what citizens and leaders see. Five projections
//! follow every stream (identity, attendance, activity, scoring, fraud) into
//! the service's own read model; the public gets every agency's month,
//! a map aggregated to a ~500 m grid and trends, with no personal data and
//! no group of fewer than five workers; province and agency admins get the
//! units, the named workers and today's positions. Served over gRPC
//! (`pantau.reporting.v1.ReportingService`) and HTTP: the dashboard at `/`,
//! JSON under `/api/v1/`, CSV downloads, `/api/openapi.yaml`.

// A failing unwrap is how a unit test reports; the library itself is still
// linted without cfg(test).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod cache;
pub mod config;
pub mod core;
pub mod gateway;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod projections;
pub mod queries;
pub mod report;
pub mod web;
