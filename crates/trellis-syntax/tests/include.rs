//! `#include` reads only regular program files of bounded size, and never
//! quotes a file that is not a program text.

use std::path::{Path, PathBuf};

use trellis_render::{Style, render};
use trellis_syntax::{MAX_INCLUDE_BYTES, ParseOptions, SourceMap, parse_str};

/// The errors of a program that includes `path`: each message, then each
/// rendered.
fn include_errors(path: &Path) -> String {
    let text = format!("#include \"{}\"\np(1).\n", path.display());
    let mut sources = SourceMap::new();
    let Err(errors) = parse_str("test.olg", &text, &ParseOptions::default(), &mut sources) else {
        panic!("the include of {} is accepted", path.display());
    };
    errors
        .iter()
        .map(|d| format!("{d}\n{}", render(&sources, d, Style::Plain)))
        .collect()
}

/// A file of its own in the temporary directory.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("trellis-include-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

#[cfg(target_os = "linux")]
#[test]
fn dev_zero_is_refused_as_a_device() {
    let out = include_errors(Path::new("/dev/zero"));
    assert!(out.contains("not a regular file"), "{out}");
}

#[test]
fn a_directory_is_refused() {
    let dir = std::env::temp_dir();
    let out = include_errors(&dir);
    assert!(out.contains("not a regular file (a directory)"), "{out}");
}

#[test]
fn a_file_over_the_limit_is_refused() {
    let path = temp_file("big.olg", &vec![b' '; MAX_INCLUDE_BYTES as usize + 1]);
    let out = include_errors(&path);
    std::fs::remove_file(&path).ok();
    assert!(
        out.contains("larger than the limit of 4194304 bytes (4 MiB)"),
        "{out}"
    );
}

#[test]
fn a_file_at_the_limit_is_read() {
    let mut bytes = b"q(2).".to_vec();
    bytes.resize(MAX_INCLUDE_BYTES as usize, b' ');
    let path = temp_file("limit.olg", &bytes);
    let text = format!("#include \"{}\"\np(1).\n", path.display());
    let parsed = parse_str(
        "test.olg",
        &text,
        &ParseOptions::default(),
        &mut SourceMap::new(),
    );
    std::fs::remove_file(&path).ok();
    assert!(parsed.is_ok(), "{:?}", parsed.err());
}

#[test]
fn a_file_with_nul_bytes_is_not_quoted() {
    let path = temp_file("nul.olg", b"secret(1).\0 secret_token here");
    let out = include_errors(&path);
    std::fs::remove_file(&path).ok();
    assert!(out.contains("not a program text"), "{out}");
    assert!(!out.contains("secret"), "{out}");
}

#[test]
fn a_file_not_utf8_is_not_quoted() {
    let path = temp_file("binary.olg", b"secret(1). \xff\xfe secret_token");
    let out = include_errors(&path);
    std::fs::remove_file(&path).ok();
    assert!(out.contains("not a program text"), "{out}");
    assert!(!out.contains("secret"), "{out}");
}

/// Opening a FIFO for reading blocks until a writer comes: it is refused
/// before it is opened.
#[cfg(target_os = "linux")]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let path = std::env::temp_dir().join(format!("trellis-include-{}-fifo", std::process::id()));
    std::fs::remove_file(&path).ok();
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let out = include_errors(&path);
    std::fs::remove_file(&path).ok();
    assert!(
        out.contains("not a regular file (a device, FIFO or socket)"),
        "{out}"
    );
}
