//! Embeds the `corpus/invalid` example of every diagnostic code into the binary, so that
//! `tcc explain-code CODE` prints the same example as docs/diagnostics.md. Adding a file to
//! `corpus/invalid` is all it takes; this script writes the table (`include_str!` per file).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/invalid");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus/invalid")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "shape"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// `(code, file name, text)` of every `corpus/invalid` example, sorted by file name.\n\
         pub static EXAMPLES: &[(&str, &str, &str)] = &[\n",
    );
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let code = name.split('-').next().unwrap_or("").to_string();
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
