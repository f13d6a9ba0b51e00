//! Integration tests of the reference server over real HTTP.

#![allow(clippy::unwrap_used, missing_docs)]

mod accounts;
mod agents;
mod auth_matrix;
mod bad_input;
mod child;
mod concurrency;
mod crash;
mod dashboard;
mod events;
mod exclusion;
mod exposure;
mod feeds;
mod holds;
mod limits;
mod openapi;
mod operability;
mod release;
mod replicas;
mod rules;
mod secret_hygiene;
mod storage;
mod support;
mod sweeper_races;
mod waiting;
mod work;
mod working_sets;
