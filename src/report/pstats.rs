//! A profile as cProfile's stats file: the `marshal` of the dict `pstats.Stats` loads,
//! `{(file, line, name): (primitive calls, calls, self s, total s, {caller: (pc, nc, tt, ct)})}`.
//! Marshal format 4 (CPython 3.4+), without back-references.

use super::profile::Profile;

struct Marshal(Vec<u8>);

impl Marshal {
    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        if s.is_ascii() && b.len() < 256 {
            self.0.push(b'z');
            self.0.push(b.len() as u8);
        } else {
            self.0.push(b'u');
            self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        }
        self.0.extend_from_slice(b);
    }

    fn int(&mut self, v: u64) {
        if v <= i32::MAX as u64 {
            self.0.push(b'i');
            self.0.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            // A long: 15-bit digits, least significant first.
            let mut digits = Vec::new();
            let mut x = v;
            while x > 0 {
                digits.push((x & 0x7fff) as u16);
                x >>= 15;
            }
            self.0.push(b'l');
            self.0.extend_from_slice(&(digits.len() as i32).to_le_bytes());
            for d in digits {
                self.0.extend_from_slice(&d.to_le_bytes());
            }
        }
    }

    fn float(&mut self, v: f64) {
        self.0.push(b'g');
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn tuple(&mut self, n: u8) {
        self.0.push(b')');
        self.0.push(n);
    }

    fn key(&mut self, k: &(String, u32, String)) {
        self.tuple(3);
        self.str(&k.0);
        self.int(k.1 as u64);
        self.str(&k.2);
    }
}

/// (primitive calls, calls, self ns, total ns).
type Figures = (u64, u64, u64, u64);
/// cProfile's key of a function: (file, line, name).
type Key = (String, u32, String);

fn add(a: &mut Figures, b: Figures) {
    a.0 += b.0;
    a.1 += b.1;
    a.2 += b.2;
    a.3 += b.3;
}

pub fn render(p: &Profile) -> Vec<u8> {
    use std::collections::BTreeMap;
    // Functions that share a key (two lambdas on one line) are one entry, as in cProfile's file.
    let mut stats: BTreeMap<&Key, (Figures, BTreeMap<&Key, Figures>)> = BTreeMap::new();
    for f in &p.functions {
        if f.calls == 0 && f.total_ns == 0 {
            continue;
        }
        let entry = stats.entry(&f.pstats_key).or_default();
        add(&mut entry.0, (f.primitive_calls, f.calls, f.self_ns, f.total_ns));
        for e in &f.callers {
            let c = entry.1.entry(&p.functions[e.function].pstats_key).or_default();
            add(c, (e.primitive_calls, e.calls, e.self_ns, e.total_ns));
        }
    }
    let s = |ns: u64| ns as f64 / 1e9;
    let mut m = Marshal(Vec::new());
    m.0.push(b'{');
    for (key, (f, callers)) in stats {
        m.key(key);
        m.tuple(5);
        m.int(f.0);
        m.int(f.1);
        m.float(s(f.2));
        m.float(s(f.3));
        m.0.push(b'{');
        for (k, e) in callers {
            m.key(k);
            m.tuple(4);
            m.int(e.0);
            m.int(e.1);
            m.float(s(e.2));
            m.float(s(e.3));
        }
        m.0.push(b'0');
    }
    m.0.push(b'0');
    m.0
}
