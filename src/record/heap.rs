//! The heap census of `refscope heap`: live objects by type and the globals that retain the most.

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.heap";
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeapReport {
    pub schema: String,
    pub schema_version: u32,
    /// `exit`, or `FILE:LINE` (just before that line ran for the first time).
    pub when: String,
    pub objects: u64,
    /// Sum of `sys.getsizeof` of every live object found.
    pub bytes: u64,
    pub by_type: Vec<TypeCount>,
    /// Globals of your modules, by the bytes they alone keep alive.
    pub retainers: Vec<Retainer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeCount {
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    /// Bytes of this type that one global of your modules alone keeps alive (freed by `del` of it).
    pub retained: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Retainer {
    pub path: String,
    pub type_name: String,
    pub retained: u64,
    pub retained_objects: u64,
    pub deep: u64,
}
