//! proxy-wasm plumbing shared by the filters.
