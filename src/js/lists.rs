//! The JS side's copies of Rust lists, generated from the Rust and checked against it:
//! the error classes (`glue.js`, `pkg/errors.d.ts`) from [`ErrorKind`], the filesystem
//! helper's error table (`files.js`) from [`crate::fs::error_kind`]; and the codes
//! `files.js` uses by name. A copy that disagrees fails `cargo test`;
//! `MODAL_WASM_BLESS=1 cargo test -p modal-wasm --lib js::lists` rewrites it.
//! (The package's exports follow `glue.js`: `scripts/build-pkg.sh` reads them from it.)

use std::path::Path;

use crate::error::ErrorKind;

const BEGIN: &str = "<generated from Rust by src/js/lists.rs: do not edit>";
const END: &str = "</generated>";

fn doc(kind: ErrorKind) -> String {
    kind.js_class().2.trim().to_string()
}

fn base_class(kind: ErrorKind) -> &'static str {
    kind.js_class().1.map_or("ModalError", |b| b.js_class().0)
}

/// The error classes of `glue.js`, defined by its `define(name, code, Base)`.
fn glue_js() -> String {
    let mut out = String::new();
    for &k in ErrorKind::ALL {
        let (class, base, _) = k.js_class();
        let base = base.map_or(String::new(), |b| format!(", {}", b.js_class().0));
        out += &format!("/** {} */\n", doc(k));
        out += &format!(
            "export const {class} = define(\"{class}\", \"{}\"{base});\n",
            k.code()
        );
    }
    out
}

/// The declarations of `pkg/errors.d.ts`.
fn errors_d_ts() -> String {
    let mut out = String::new();
    for &k in ErrorKind::ALL {
        out += &format!("/** {} `code: \"{}\"` */\n", doc(k), k.code());
        out += &format!(
            "export declare class {} extends {} {{}}\n",
            k.js_class().0,
            base_class(k)
        );
    }
    out
}

/// `files.js`'s table of the helper's `error_kind`s (watch runs there; it never writes).
fn files_js() -> String {
    let mut out = String::from("const ERROR_CODES = {\n");
    for kind in crate::fs::HELPER_ERROR_KINDS {
        let code = crate::fs::error_kind(crate::fs::Op::List, kind).code();
        out += &format!("  {kind}: \"{code}\",\n");
    }
    out + "};\n"
}

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Compares the generated region of `rel` with `want` (or rewrites it when blessing).
fn check_generated(rel: &str, want: &str) {
    let text = read(rel);
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("{rel}: no region marked {BEGIN} ... {END}");
    };
    let start = b + text[b..].find('\n').expect("a newline after the marker") + 1;
    let stop = text[..e]
        .rfind('\n')
        .expect("a newline before the end marker")
        + 1;
    let found = &text[start..stop];
    if found == want {
        return;
    }
    if std::env::var_os("MODAL_WASM_BLESS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        std::fs::write(path, format!("{}{want}{}", &text[..start], &text[stop..])).unwrap();
        return;
    }
    panic!(
        "{rel} disagrees with the Rust list it is generated from; run\n  \
         MODAL_WASM_BLESS=1 cargo test -p modal-wasm --lib js::lists\n\
         --- want ---\n{want}--- found ---\n{found}"
    );
}

#[test]
fn error_classes_of_glue_js_are_error_kinds() {
    check_generated("src/js/glue.js", &glue_js());
}

#[test]
fn error_classes_of_the_d_ts_are_error_kinds() {
    check_generated("src/js/pkg/errors.d.ts", &errors_d_ts());
}

#[test]
fn helper_error_table_of_files_js_is_fs_error_kind() {
    check_generated("src/js/files.js", &files_js());
}

/// Every code `files.js` names (`makeError("CODE", ...)`, `e.code === "CODE"`) exists.
#[test]
fn codes_named_in_files_js_exist() {
    let text = read("src/js/files.js");
    let codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    let mut named = 0;
    for pat in ["makeError(\"", "code === \""] {
        for (at, _) in text.match_indices(pat) {
            let rest = &text[at + pat.len()..];
            let code = &rest[..rest.find('"').unwrap()];
            assert!(codes.contains(&code), "files.js names unknown code {code}");
            named += 1;
        }
    }
    assert!(named > 3, "files.js names codes; the scan found {named}");
}

/// `scripts/build-pkg.sh` exports glue.js's classes by a name pattern (`...Error`, or named
/// in it): every error class is matched, so the package exports it.
#[test]
fn build_pkg_exports_every_error_class() {
    let script = read("scripts/build-pkg.sh");
    for &k in ErrorKind::ALL {
        let class = k.js_class().0;
        let named = script.contains(&format!("\\|{class}\\|"));
        assert!(
            class.ends_with("Error") || named,
            "{class}: not matched by the export pattern of scripts/build-pkg.sh"
        );
    }
}

#[test]
fn kinds_have_unique_codes_and_classes() {
    let mut seen = std::collections::HashSet::new();
    for &k in ErrorKind::ALL {
        assert!(seen.insert(k.code()), "{}", k.code());
        assert!(seen.insert(k.js_class().0), "{}", k.js_class().0);
        assert!(!doc(k).is_empty());
        if let Some(b) = k.js_class().1 {
            let at = |x| ErrorKind::ALL.iter().position(|&k| k == x);
            assert!(at(b) < at(k), "{:?}: the base class comes first", k);
        }
    }
}
