//! Reading resource files and directories from disk into [`Loaded`].

use std::path::{Path, PathBuf};

use portcullis_compile::diagnostics::Diagnostic;
use portcullis_compile::load::{Loaded, load_str};

/// Reads every `*.yaml` / `*.yml` file of the given files and directories. Directories are read
/// one level deep, in file-name order, so an `expected/` sub-directory is never loaded.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        for file in files_of(path, &mut loaded.diagnostics) {
            let display = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let one = load_str(&text, Some(&display));
                    loaded.resources.extend(one.resources);
                    loaded.diagnostics.extend(one.diagnostics);
                }
                Err(e) => loaded.diagnostics.push(
                    Diagnostic::error(&display, format!("cannot read file: {e}"))
                        .file(Some(&display)),
                ),
            }
        }
    }
    loaded
}

fn files_of(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let display = path.display().to_string();
    if !path.is_dir() {
        if !path.exists() {
            diagnostics.push(
                Diagnostic::error(&display, "no such file or directory").file(Some(&display)),
            );
            return Vec::new();
        }
        return vec![path.to_path_buf()];
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(&display, format!("cannot read directory: {e}"))
                    .file(Some(&display)),
            );
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// A directory is read one level deep, so neither a deep tree nor a symlink loop can make
    /// the scan recurse: only the YAML files directly in it are loaded.
    #[test]
    fn directories_are_read_one_level_deep() {
        let dir = std::env::temp_dir().join(format!("portcullis-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut deep = dir.join("nested");
        for i in 0..64 {
            deep = deep.join(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        let doc = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: NAME, namespace: default}\nspec: {servers: []}\n";
        std::fs::write(dir.join("top.yaml"), doc.replace("NAME", "top")).unwrap();
        std::fs::write(
            dir.join("nested").join("inner.yaml"),
            doc.replace("NAME", "inner"),
        )
        .unwrap();
        std::fs::write(deep.join("deep.yaml"), doc.replace("NAME", "deep")).unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();

        let loaded = load_paths(std::slice::from_ref(&dir));
        let names: Vec<String> = loaded
            .resources
            .gateways
            .iter()
            .map(|g| g.metadata.name.clone())
            .collect();
        assert_eq!(names, ["top"], "{:#?}", loaded.diagnostics);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
