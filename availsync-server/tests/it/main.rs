//! Integration tests of the reference server over real HTTP.

#![allow(clippy::unwrap_used, missing_docs)]

mod accounts;
mod agents;
mod auth_matrix;
mod bad_input;
mod concurrency;
mod crash;
mod feeds;
mod holds;
mod limits;
mod openapi;
mod release;
mod secret_hygiene;
mod support;
mod work;
