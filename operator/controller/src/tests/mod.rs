//! Unit tests of the pure parts: inputs from store contents, status from observations, the
//! lease policy, the events for status changes, and the objects of the distributions.

mod distribute;
mod fixtures;
mod inputs;
mod leader;
mod status;
