//! The controller's integration tests, one binary so the dependency graph is linked once: the
//! generated CRD (`crd`), the reconciler against a scripted API (`scripted`), and the real
//! controller against the in-process API stand-in (`in_process`).

mod crd;
mod in_process;
mod scripted;
