//! The shipped binary stands alone: a `portcullis` binary copied out of the checkout, given
//! Envoy and the modules by flag and by environment, serves the seed example; without them it
//! says what to do. `cargo xtask test` passes the release build in `PORTCULLIS_RELEASE_BIN`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::http::get;
use crate::support::*;

/// The binary under test, copied into a directory of its own, far from the checkout.
fn relocated_binary(root: &Path) -> PathBuf {
    let built = std::env::var_os("PORTCULLIS_RELEASE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_portcullis")));
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let copy = bin.join("portcullis");
    std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    copy
}

/// The seed example, copied next to it.
fn seed_copy(root: &Path) -> PathBuf {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    let copy = root.join("seed");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(seed).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

/// `portcullis up` on the copy, with a clean environment (no cargo variables, no
/// `PORTCULLIS_*` unless given) and the scratch directory as working directory.
fn up(root: &Path, binary: &Path, extra: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .current_dir(root)
        .arg("up")
        .arg("-f")
        .arg(root.join("seed"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Envoy by flag, modules by environment: the copied binary serves the seed example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_binary_serves_the_seed_example() {
    let root = state_dir();
    let binary = relocated_binary(&root);
    seed_copy(&root);
    let envoy = std::env::var("PORTCULLIS_ENVOY").expect("run with cargo xtask test");
    let wasm = std::env::var("PORTCULLIS_WASM_DIR").expect("run with cargo xtask test");
    let (listen, admin) = (free_port(), free_port());
    let offset = (listen - 80).to_string();
    let admin = admin.to_string();
    let mut child = up(
        &root,
        &binary,
        &[
            "--envoy",
            &envoy,
            "--port-offset",
            &offset,
            "--admin-port",
            &admin,
            "--demo-upstreams",
            "--xds-port",
            "0",
        ],
        &[("PORTCULLIS_WASM_DIR", &wasm)],
    )
    .spawn()
    .unwrap();

    let mut answer = None;
    for _ in 0..200 {
        if let Ok(r) = get("dev.example.com", "/").try_send(listen).await {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = answer.unwrap_or_else(|| panic!("the copied binary never served"));
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "outbound|80||dev-upstream.demo.local"),
        "{r:?}"
    );
    let other = get("other.example.com", "/").send(listen).await;
    assert_eq!(other.status, 404, "{other:?}");
    stop_up(&mut child).await;
    let _ = std::fs::remove_dir_all(&root);
}

/// Without Envoy or the modules, the binary exits with an error that says what to do.
#[tokio::test]
async fn a_copied_binary_without_envoy_or_modules_says_what_to_do() {
    let root = state_dir();
    let binary = relocated_binary(&root);
    seed_copy(&root);

    let out = up(&root, &binary, &[], &[]).output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Envoy not found") && stderr.contains("--envoy PATH"),
        "{stderr}"
    );

    let envoy = std::env::var("PORTCULLIS_ENVOY").expect("run with cargo xtask test");
    let out = up(&root, &binary, &[], &[("PORTCULLIS_ENVOY", &envoy)])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("filter modules were not found") && stderr.contains("--wasm-dir DIR"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
