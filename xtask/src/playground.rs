//! The browser playground: built with wasm-bindgen into `target/playground/`, served on
//! 127.0.0.1, and tested in headless Chromium.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::run;

/// The wasm-bindgen version the playground crate pins; the CLI must be the same release.
const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// Where the built page lives.
pub fn out_dir() -> PathBuf {
    run::root().join("target/playground")
}

/// Builds the page: the engine for `wasm32-unknown-unknown` (release: size-optimised), its
/// JavaScript bindings, and the static files. Prints the bundle size.
pub fn build() -> Result<()> {
    run::command("rustup", &["target", "add", "wasm32-unknown-unknown"], &[])
        .context("`rustup target add wasm32-unknown-unknown` failed")?;
    run::cargo(
        &[
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "portcullis-playground",
            "--lib",
        ],
        &[],
    )?;
    let root = run::root();
    let wasm = root.join("target/wasm32-unknown-unknown/release/portcullis_playground.wasm");
    let out = out_dir();
    let pkg = out.join("pkg");
    if pkg.exists() {
        fs::remove_dir_all(&pkg).with_context(|| format!("removing {}", pkg.display()))?;
    }
    // wasm-opt before wasm-bindgen: Debian's binaryen rewrites the reference-typed table the
    // bindings fill, and the page then fails to start. About a tenth smaller than rustc's
    // size-optimised output (1.65 → 1.50 MB after bindgen).
    let [wasm_opt] = ensure_debian(&[("wasm-opt", "binaryen")])?;
    let optimised_dir = root.join("target/playground-opt");
    fs::create_dir_all(&optimised_dir)?;
    // wasm-bindgen names its output after its input: keep the crate's file name.
    let optimised = optimised_dir.join("portcullis_playground.wasm");
    run::command(
        &wasm_opt,
        &[
            "-Oz",
            &wasm.to_string_lossy(),
            "-o",
            &optimised.to_string_lossy(),
        ],
        &[],
    )?;
    let bindgen = wasm_bindgen()?;
    run::command(
        &bindgen,
        &[
            "--target",
            "web",
            "--no-typescript",
            "--remove-name-section",
            "--remove-producers-section",
            "--out-dir",
            &pkg.to_string_lossy(),
            &optimised.to_string_lossy(),
        ],
        &[],
    )?;
    let www = root.join("playground/www");
    for entry in fs::read_dir(&www).with_context(|| format!("reading {}", www.display()))? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            fs::copy(&path, out.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    let mut total = 0;
    for file in [
        "pkg/portcullis_playground_bg.wasm",
        "pkg/portcullis_playground.js",
        "app.js",
    ] {
        let size = fs::metadata(out.join(file))
            .with_context(|| format!("{file} was not built"))?
            .len();
        println!("  {file}: {size} bytes");
        total += size;
    }
    println!(
        "  bundle (wasm + JS): {total} bytes ({:.2} MiB)",
        total as f64 / 1_048_576.0
    );
    Ok(())
}

/// The wasm-bindgen CLI of exactly the pinned release, installed from crates.io into
/// `target/tools` when it is missing (the bindings format changes between releases).
fn wasm_bindgen() -> Result<String> {
    let root = run::root();
    let tools = root.join("target/tools");
    let bin = tools.join("bin/wasm-bindgen");
    let bin_text = bin.to_string_lossy().into_owned();
    let installed = bin.exists()
        && run::output(&bin_text, &["--version"])
            .is_ok_and(|v| v.split_whitespace().nth(1) == Some(WASM_BINDGEN_VERSION));
    if !installed {
        run::cargo(
            &[
                // Not `--locked`: its lock file pins a crate version the registry may no
                // longer serve, and the CLI's version is pinned exactly anyway.
                "install",
                "--quiet",
                "wasm-bindgen-cli",
                "--version",
                &format!("={WASM_BINDGEN_VERSION}"),
                "--root",
                &tools.to_string_lossy(),
            ],
            &[],
        )
        .context("installing wasm-bindgen-cli")?;
    }
    Ok(bin_text)
}

/// A listener on 127.0.0.1 (`port` 0: any free port).
pub fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("binding 127.0.0.1:{port}"))
}

/// Serves `target/playground/` until the process ends: GET only, files inside it only.
pub fn serve(listener: TcpListener) -> Result<()> {
    let dir = out_dir();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // One request per connection, answered in order: this is a page for one person.
        if let Err(e) = answer(stream, &dir) {
            eprintln!("playground server: {e:#}");
        }
    }
    Ok(())
}

fn answer(mut stream: TcpStream, dir: &Path) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers; nothing in them matters here.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let file = match (method, resolve(dir, path)) {
        ("GET" | "HEAD", Some(file)) if file.is_file() => file,
        ("GET" | "HEAD", _) => {
            return respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                method,
            );
        }
        _ => {
            return respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"GET only\n",
                method,
            );
        }
    };
    let body = fs::read(&file)?;
    respond(&mut stream, "200 OK", content_type(&file), &body, method)
}

/// The file under `dir` a URL path names; `None` for anything that would leave it.
fn resolve(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = url_path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let relative = Path::new(relative);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(dir.join(relative))
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        // `WebAssembly.instantiateStreaming` requires exactly this type.
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
    method: &str,
) -> Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body)?;
    }
    Ok(())
}

/// The paths of `tools` (binary, Debian package), installed with apt-get when any is missing
/// (CI and the project's machines run as root).
fn ensure_debian<const N: usize>(tools: &[(&str, &str); N]) -> Result<[String; N]> {
    let find = |name: &str| {
        ["/usr/bin", "/usr/local/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.exists())
            .map(|p| p.to_string_lossy().into_owned())
    };
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| find(bin).is_none())
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        let list = missing.join(" ");
        run::command("apt-get", &["update", "-qq"], &[]).with_context(|| {
            format!("{list} missing and apt-get cannot run; install Debian's {list}")
        })?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        run::command("apt-get", &args, &[("DEBIAN_FRONTEND", "noninteractive")])
            .with_context(|| format!("apt-get install {list}"))?;
    }
    let mut found = Vec::with_capacity(N);
    for (bin, package) in tools {
        found.push(find(bin).with_context(|| format!("{bin} (Debian's {package}) not found"))?);
    }
    found
        .try_into()
        .map_err(|_| anyhow::anyhow!("tool count changed"))
}

/// Builds the page, serves it on a free port, and runs the browser test against it.
pub fn browser_test() -> Result<()> {
    build()?;
    let [chromium, chromedriver] = ensure_debian(&[
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ])?;
    let listener = bind(0)?;
    let url = format!("http://{}/", listener.local_addr()?);
    std::thread::spawn(move || serve(listener));
    let screenshot = out_dir().join("screenshot.png");
    run::command(
        "python3",
        &[&run::root()
            .join("playground/tests/browser.py")
            .to_string_lossy()],
        &[
            ("PLAYGROUND_URL", url.as_str()),
            ("CHROMIUM", chromium.as_str()),
            ("CHROMEDRIVER", chromedriver.as_str()),
            ("SCREENSHOT", &screenshot.to_string_lossy()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_served_directory() {
        let dir = Path::new("/srv/pg");
        assert_eq!(resolve(dir, "/"), Some(dir.join("index.html")));
        assert_eq!(resolve(dir, "/pkg/a.js"), Some(dir.join("pkg/a.js")));
        assert_eq!(resolve(dir, "/../etc/passwd"), None);
        assert_eq!(resolve(dir, "/pkg/../../x"), None);
        assert_eq!(resolve(dir, "//etc/passwd"), Some(dir.join("etc/passwd")));
    }

    #[test]
    fn wasm_is_served_with_the_type_streaming_compilation_needs() {
        assert_eq!(content_type(Path::new("a/b_bg.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("app.js")),
            "text/javascript; charset=utf-8"
        );
    }
}
