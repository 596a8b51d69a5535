//! Embeds the `corpus/invalid` example of every diagnostic code into the binary, so that
//! `tcc explain-code CODE` prints the same example as docs/diagnostics.md. Adding a file to
//! `corpus/invalid` is all it takes; this script writes the table (`include_str!` per file).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let mut files = Vec::new();
    for (sub, ext) in [
        ("corpus/invalid", "shape"),
        ("corpus/script-lint", "sh"),
        ("corpus/live", "shape"),
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut these: Vec<_> = entries
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        these.sort();
        files.extend(these);
    }
    let mut out = String::from(
        "/// `(code, path, text)` of every `corpus/invalid`, `corpus/script-lint` and `corpus/live` example.\n\
         pub static EXAMPLES: &[(&str, &str, &str)] = &[\n",
    );
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let code = file.split('-').next().unwrap_or("").to_string();
        let dir = p.parent().unwrap().file_name().unwrap().to_string_lossy();
        let name = format!("corpus/{dir}/{file}");
        writeln!(
            out,
            "    ({code:?}, {name:?}, include_str!({:?})),",
            p.display().to_string()
        )
        .unwrap();
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("examples.rs");
    std::fs::write(dest, out).expect("write examples.rs");
}
