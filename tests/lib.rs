//! End-to-end tests of Availsync pieces together.
