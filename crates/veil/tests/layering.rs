//! Keeps the layering of `crates/veil/src` true (ARCHITECTURE.md, "Layers").
//!
//! It parses every source file with `syn`, follows every `crate::`, `super::` and `self::` path
//! (in `use` trees, expressions, types and macro bodies) to the file that defines it, and checks:
//!
//! 1. no file is in an import circle (visibility paths such as `pub(super)` are not uses), and
//!    the top-level modules form one direction (no folder circle);
//! 2. the domain (`whatsapp`, `guard`, `inbox`, `identity`, `audit`, `outbox`, `media`, `keys`,
//!    `privacy`...) names no web framework, no database driver, and neither `cli` nor `http`;
//! 3. `http` never reaches the store: no `crate::store` path and no `.store` field in `http/`.
//!
//! Run it alone to see the graph: `cargo test -p veil --test layering -- --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// Top-level modules that hold domain logic: no HTTP, no SQL, no command line.
const DOMAIN: &[&str] = &[
    "whatsapp", "guard", "inbox", "identity", "audit", "outbox", "media", "keys", "privacy",
    "inbound", "live", "i18n", "mail", "clock",
];
/// Crates and modules the domain must not name.
const NOT_IN_DOMAIN: &[&str] = &["axum", "sqlx", "rusqlite", "hyper", "tower", "tower_http"];
const NOT_IN_DOMAIN_MODULES: &[&str] = &["cli", "http", "app", "bench", "demo", "seed"];

#[derive(Default)]
struct FileUses {
    /// Module paths (without `crate`) this file names.
    modules: BTreeSet<Vec<String>>,
    /// External crates this file names.
    externs: BTreeSet<String>,
    /// Lines where a `.store` field is read.
    store_fields: usize,
}

struct Collector {
    /// The module being read: the file's, plus any inline `mod x { }` it is inside.
    here: Vec<String>,
    uses: FileUses,
}

impl Collector {
    /// Resolves a path's segments to an absolute module path (without `crate`), or records an
    /// external crate.
    fn add(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base: Vec<String> = self.here.clone();
        let rest: &[String] = match first.as_str() {
            "crate" => {
                base.clear();
                &segments[1..]
            }
            "self" => &segments[1..],
            "super" => {
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                rest
            }
            "Self" | "std" | "core" | "alloc" => return,
            other => {
                if segments.len() > 1 && other.chars().next().is_some_and(char::is_lowercase) {
                    self.uses.externs.insert(other.to_owned());
                }
                return;
            }
        };
        let mut full = base;
        full.extend(rest.iter().cloned());
        self.uses.modules.insert(full);
    }

    fn tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.add(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.add(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.add(&prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.tree(prefix, item);
                }
            }
        }
    }

    /// Paths inside macro bodies (`format!`, `json!`, `sqlx::query!`...) are only tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let flat: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < flat.len() {
            match &flat[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) if ["crate", "super"].contains(&id.to_string().as_str()) => {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    loop {
                        let colons = matches!(
                            (flat.get(j), flat.get(j + 1)),
                            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                                if a.as_char() == ':' && b.as_char() == ':'
                        );
                        match (colons, flat.get(j + 2)) {
                            (true, Some(TokenTree::Ident(next))) => {
                                segments.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    self.add(&segments);
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.here.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.here.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.add(&segments);
        syn::visit::visit_path(self, path);
    }

    /// `pub(super)` and `pub(in path)` say who may see an item, not what it uses.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_expr_field(&mut self, field: &'ast syn::ExprField) {
        if let syn::Member::Named(name) = &field.member
            && name == "store"
        {
            self.uses.store_fields += 1;
        }
        syn::visit::visit_expr_field(self, field);
    }
}

struct Source {
    /// Module path without `crate` (empty for `lib.rs`).
    module: Vec<String>,
    /// Path relative to `src/`, for messages.
    name: String,
    uses: FileUses,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "main.rs" {
            continue; // the binary names the library as `veil::`, from outside
        }
        let stem = rel.trim_end_matches(".rs");
        let mut module: Vec<String> = stem.split('/').map(str::to_owned).collect();
        if module.last().is_some_and(|m| m == "mod" || m == "lib") {
            module.pop();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut collector = Collector {
            here: module.clone(),
            uses: FileUses::default(),
        };
        collector.visit_file(&parsed);
        let uses = collector.uses;
        out.push(Source {
            module,
            name: rel,
            uses,
        });
    }
    out
}

/// The file a module path is defined in: the longest known prefix.
fn resolve(modules: &BTreeMap<Vec<String>, usize>, path: &[String]) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]).copied())
}

fn folder(module: &[String]) -> String {
    module.first().cloned().unwrap_or_else(|| "lib".to_owned())
}

/// Tarjan's strongly connected components over file indices.
fn components(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v].clone() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut part = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                part.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(part);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

struct Graph {
    sources: Vec<Source>,
    edges: Vec<BTreeSet<usize>>,
}

fn graph() -> Graph {
    let sources = sources();
    let modules: BTreeMap<Vec<String>, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    let edges = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.uses
                .modules
                .iter()
                .filter_map(|p| resolve(&modules, p))
                // A module's own children and its `mod.rs` are one unit with it.
                .filter(|&j| j != i)
                // `lib.rs` declares every module; that is not a dependency.
                .filter(|_| !s.module.is_empty())
                .collect()
        })
        .collect();
    Graph { sources, edges }
}

#[test]
fn no_file_is_in_an_import_circle() {
    // Files import each other in one direction, inside a folder too: a circle means two files are
    // one concern (merge them) or share a piece that belongs in a third (move it there).
    let g = graph();
    let mut circles = Vec::new();
    for part in components(&g.edges) {
        if part.len() < 2 {
            continue;
        }
        let folders: BTreeSet<String> =
            part.iter().map(|&i| folder(&g.sources[i].module)).collect();
        let names: Vec<&str> = part.iter().map(|&i| g.sources[i].name.as_str()).collect();
        circles.push(format!("{} files in {folders:?}: {names:?}", part.len()));
    }
    println!(
        "{} files; {} import circles",
        g.sources.len(),
        circles.len()
    );
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn top_level_modules_depend_in_one_direction() {
    let g = graph();
    let mut folder_edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (i, s) in g.sources.iter().enumerate() {
        let from = folder(&s.module);
        folder_edges.entry(from.clone()).or_default();
        for &j in &g.edges[i] {
            let to = folder(&g.sources[j].module);
            if to != from && !s.module.is_empty() {
                folder_edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(format!("{} -> {}", s.name, g.sources[j].name));
            }
        }
    }
    // Peel off folders nothing left depends on... in reverse: leaves first.
    let mut remaining: BTreeMap<String, BTreeSet<String>> = folder_edges
        .iter()
        .map(|(k, v)| (k.clone(), v.keys().cloned().collect()))
        .collect();
    let mut layers = Vec::new();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(k, _)| k.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in &leaves {
            remaining.remove(leaf);
        }
        layers.push(leaves);
    }
    for (n, layer) in layers.iter().enumerate() {
        println!("layer {n}: {}", layer.join(" "));
    }
    if !remaining.is_empty() {
        let mut why = Vec::new();
        for (from, deps) in &remaining {
            for to in deps.iter().filter(|d| remaining.contains_key(*d)) {
                let files = &folder_edges[from][to];
                why.push(format!("{from} -> {to}: {}", files.join(", ")));
            }
        }
        panic!("folders in a circle:\n{}", why.join("\n"));
    }
}

#[test]
fn the_domain_names_no_framework_driver_or_entry_point() {
    let g = graph();
    let mut bad = Vec::new();
    for (i, s) in g.sources.iter().enumerate() {
        if !DOMAIN.contains(&folder(&s.module).as_str()) {
            continue;
        }
        for name in s
            .uses
            .externs
            .iter()
            .filter(|e| NOT_IN_DOMAIN.contains(&e.as_str()))
        {
            bad.push(format!("{} names {name}", s.name));
        }
        for &j in &g.edges[i] {
            let to = folder(&g.sources[j].module);
            if NOT_IN_DOMAIN_MODULES.contains(&to.as_str()) {
                bad.push(format!("{} uses {}", s.name, g.sources[j].name));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn http_reaches_data_only_through_the_domain() {
    let g = graph();
    let mut bad = Vec::new();
    for (i, s) in g.sources.iter().enumerate() {
        if folder(&s.module) != "http" {
            continue;
        }
        if s.uses.store_fields > 0 {
            bad.push(format!(
                "{} reads .store {} times",
                s.name, s.uses.store_fields
            ));
        }
        for &j in &g.edges[i] {
            if folder(&g.sources[j].module) == "store" {
                bad.push(format!("{} uses {}", s.name, g.sources[j].name));
            }
        }
    }
    assert!(bad.is_empty(), "http past the domain:\n{}", bad.join("\n"));
}
