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
