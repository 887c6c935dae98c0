//! Unit tests of the pure parts: inputs from store contents, status from observations, the
//! lease policy, and the events for status changes.

mod fixtures;
mod inputs;
mod leader;
mod status;
