//! The WASI subset Envoy provides (cpp-host `exports.cc`).
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use portcullis_wasm_tests::LogLevel;
use serde_json::json;

use crate::support::*;

#[test]
fn stdout_logs_at_info_and_stderr_at_error_other_fds_are_badf__cpp_host_wasi_fd_write() {
    let host = probe_host(json!({"on_configure": [
        {"op": "print", "msg": "to stdout"}, {"op": "eprint", "msg": "to stderr"}, {"op": "wasi_fd_write_bad_fd"}
    ]}));
    let logs = host.logs();
    let find = |m: &str| logs.iter().find(|l| l.message == m).map(|l| l.level);
    assert_eq!(find("to stdout"), Some(LogLevel::Info));
    assert_eq!(find("to stderr"), Some(LogLevel::Error));
    assert_eq!(status(&host, "on_configure", "wasi_fd_write_bad_fd"), 8);
}

#[test]
fn environ_comes_from_the_vm_config_and_args_are_empty__cpp_host_wasi_environ() {
    let host = probe_builder(
        json!({"on_configure": [{"op": "env", "name": "REGION"}, {"op": "env_all"}]}),
    )
    .env("REGION", "eu-west")
    .build()
    .unwrap();
    assert_eq!(result(&host, "on_configure", "env")["value"], "eu-west");
    let all = result(&host, "on_configure", "env_all");
    assert_eq!(all["value"]["vars"], json!([["REGION", "eu-west"]]));
    assert_eq!(all["value"]["args"], json!([]));
}

#[test]
fn clocks_read_the_virtual_clock__cpp_host_wasi_clock_time_get() {
    let mut host = probe_host(json!({"on_tick": [
        {"op": "wasi_clock", "id": 0}, {"op": "system_time"}, {"op": "time"}, {"op": "wasi_clock", "id": 1},
        {"op": "wasi_clock_res", "id": 0}, {"op": "wasi_clock", "id": 2}
    ], "on_configure": [{"op": "set_tick", "ms": 1000}]}));
    host.advance(1000);
    let epoch = 1_767_225_600_000_000_000u64 + 1_000_000_000;
    let c = results_of(&host, "on_tick", "wasi_clock");
    assert_eq!(c[0]["value"], epoch);
    assert_eq!(result(&host, "on_tick", "system_time")["value"], epoch);
    assert_eq!(result(&host, "on_tick", "time")["value"], epoch);
    assert_eq!(c[1]["value"], 2_000_000_000u64, "monotonic starts at 1 s");
    assert_eq!(result(&host, "on_tick", "wasi_clock_res")["value"], 1);
    assert_eq!(c[2]["status"], 58, "CPU-time clocks are ENOTSUP");
}

#[test]
fn random_get_is_seeded_and_capped_at_64_kib__cpp_host_limits_h() {
    let cfg = json!({"on_configure": [{"op": "wasi_random", "len": 16}, {"op": "wasi_random", "len": 65537}]});
    let a = probe_builder(cfg.clone()).seed(7).build().unwrap();
    let b = probe_builder(cfg.clone()).seed(7).build().unwrap();
    let c = probe_builder(cfg).seed(8).build().unwrap();
    let bytes = |h: &portcullis_wasm_tests::Host| {
        results_of(h, "on_configure", "wasi_random")[0]["value"].clone()
    };
    assert_eq!(bytes(&a), bytes(&b));
    assert_ne!(bytes(&a), bytes(&c));
    assert_eq!(
        results_of(&a, "on_configure", "wasi_random")[1]["status"],
        28
    );
}

#[test]
fn filesystem_stubs_return_envoys_errnos__cpp_host_pr_427() {
    let host = probe_host(json!({"on_configure": [
        {"op": "wasi_fd_read"}, {"op": "wasi_fd_prestat_get"}, {"op": "wasi_sched_yield"}
    ]}));
    assert_eq!(status(&host, "on_configure", "wasi_fd_read"), 52);
    assert_eq!(status(&host, "on_configure", "wasi_fd_prestat_get"), 8);
    assert_eq!(status(&host, "on_configure", "wasi_sched_yield"), 0);
}

#[test]
fn proc_exit_fails_the_vm__cpp_host_wasi_proc_exit() {
    let err = probe_builder(json!({"on_configure": [{"op": "exit", "code": 3}]}))
        .build()
        .unwrap_err();
    // cpp-host logs the call and returns; Rust's `exit` then traps on its own.
    assert!(
        format!("{err:#}").contains("wasi_unstable proc_exit"),
        "{err:#}"
    );
}

#[test]
fn log_level_filters_and_is_readable__envoy_log_level() {
    let host = probe_builder(json!({"on_configure": [{"op": "get_log_level"}, {"op": "log", "level": 1, "msg": "debug line"}]}))
        .log_level(LogLevel::Info)
        .build()
        .unwrap();
    assert_eq!(result(&host, "on_configure", "get_log_level")["value"], 2);
    assert!(!host.log_messages().contains(&"debug line".to_string()));
}
