//! Suites that load the built filters.
