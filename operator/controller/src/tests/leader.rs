use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

use crate::leader::{Decision, evaluate, next_spec};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn held(by: &str, renewed: i64, term: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(by.into()),
        renew_time: Some(MicroTime(at(renewed))),
        lease_duration_seconds: Some(term),
        lease_transitions: Some(3),
        ..LeaseSpec::default()
    }
}

#[test]
fn a_missing_or_released_lease_is_taken() {
    assert_eq!(evaluate(None, "a", at(0)), Decision::Acquire);
    let released = LeaseSpec {
        holder_identity: Some(String::new()),
        ..LeaseSpec::default()
    };
    assert_eq!(evaluate(Some(&released), "a", at(0)), Decision::Acquire);
}

#[test]
fn a_live_holder_is_followed_until_its_term_ends() {
    let lease = held("b", 0, 15);
    assert_eq!(
        evaluate(Some(&lease), "a", at(14)),
        Decision::Follow {
            holder: "b".into(),
            until: at(15)
        }
    );
    assert_eq!(evaluate(Some(&lease), "a", at(15)), Decision::Acquire);
    assert_eq!(evaluate(Some(&lease), "a", at(100)), Decision::Acquire);
}

#[test]
fn the_holder_renews_its_own_lease_even_when_late() {
    assert_eq!(
        evaluate(Some(&held("a", 0, 15)), "a", at(100)),
        Decision::Renew
    );
}

#[test]
fn taking_over_counts_a_transition_and_renewing_does_not() {
    let lease = held("b", 0, 15);
    let taken = next_spec(
        Some(&lease),
        &Decision::Acquire,
        "a",
        at(20),
        Duration::from_secs(15),
    )
    .unwrap_or_default();
    assert_eq!(taken.holder_identity.as_deref(), Some("a"));
    assert_eq!(taken.lease_transitions, Some(4));
    assert_eq!(taken.acquire_time.as_ref().map(|t| t.0), Some(at(20)));
    let renewed = next_spec(
        Some(&taken),
        &Decision::Renew,
        "a",
        at(25),
        Duration::from_secs(15),
    )
    .unwrap_or_default();
    assert_eq!(renewed.lease_transitions, Some(4));
    assert_eq!(renewed.acquire_time.as_ref().map(|t| t.0), Some(at(20)));
    assert_eq!(renewed.renew_time.as_ref().map(|t| t.0), Some(at(25)));
    let follow = Decision::Follow {
        holder: "b".into(),
        until: at(15),
    };
    assert!(next_spec(Some(&lease), &follow, "a", at(1), Duration::from_secs(15)).is_none());
}
