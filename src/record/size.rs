//! What `refscope size` measures of one object: shallow, deep and retained size, by type, largest parts.

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.size";
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SizeReport {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: String,
    /// The expression or description of the object measured.
    pub what: String,
    pub type_name: String,
    /// `sys.getsizeof(obj)`.
    pub shallow: u64,
    /// Every object reachable from it, each counted once (shared objects excluded unless asked).
    pub deep: u64,
    /// What would be freed if it became unreachable: objects reachable only through it
    /// (None when not asked for: `retained=False`).
    pub retained: Option<u64>,
    pub objects: u64,
    pub retained_objects: Option<u64>,
    pub include_shared: bool,
    /// By type, largest deep bytes first.
    pub by_type: Vec<TypeRow>,
    /// The largest single objects inside it, with where they hang.
    pub largest: Vec<Part>,
    /// Objects whose `__sizeof__` raised (as `sys.getsizeof` would): counted as 0 B, so the
    /// figures are that much short.
    #[serde(default)]
    pub unsized_objects: u64,
    /// The largest parts as a tree: each object under the one it was first reached through, its
    /// bytes with everything under it; the largest subtrees and their ancestors, parents first.
    /// Empty when the retained size was not asked for.
    #[serde(default)]
    pub tree: Vec<TreeNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TreeNode {
    /// Index in `tree` of the node above (None for the object measured).
    pub parent: Option<u32>,
    /// How it hangs from its parent: `[3]`, `['key']`, `.attr`, or the expression for the root.
    pub label: String,
    pub type_name: String,
    pub shallow: u64,
    /// Its bytes and those of everything first reached through it.
    pub bytes: u64,
    pub objects: u64,
    /// Children of it left out of the tree (smaller than every node kept).
    pub more: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeRow {
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    pub retained_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Part {
    pub path: String,
    pub type_name: String,
    pub shallow: u64,
}
