//! The small-object allocator's own account (`_PyObject_DebugMallocStats`, what
//! `sys._debugmallocstats()` prints): how much it holds from the OS and how much of that is in use.

use crate::record::PymallocStats;

extern "C" {
    fn _PyObject_DebugMallocStats(out: *mut libc::FILE) -> std::ffi::c_int;
}

/// The allocator's figures now; None when pymalloc is not in use (`PYTHONMALLOC=malloc`).
pub fn stats() -> Option<PymallocStats> {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: callers hold the GIL. `open_memstream` gives a stream whose buffer `buf` and `len`
    // describe once it is closed; the buffer is copied, then freed.
    let text = unsafe {
        let f = libc::open_memstream(&mut buf, &mut len);
        if f.is_null() {
            return None;
        }
        let used = _PyObject_DebugMallocStats(f);
        libc::fclose(f);
        let text = String::from_utf8_lossy(std::slice::from_raw_parts(buf as *const u8, len)).into_owned();
        libc::free(buf as *mut libc::c_void);
        if used == 0 {
            return None;
        }
        text
    };
    Some(parse(&text))
}

fn number(s: &str) -> u64 {
    s.trim().replace(',', "").parse().unwrap_or(0)
}

fn parse(text: &str) -> PymallocStats {
    let mut s = PymallocStats::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let v = number(value);
        if key == "# arenas allocated current" {
            s.arenas = v;
        } else if let Some(size) = key.strip_suffix("bytes/arena").and_then(|k| k.split('*').nth(1)) {
            s.arena_size = number(size);
        } else if key == "# bytes in allocated blocks" {
            s.allocated = v;
        } else if key == "# bytes in available blocks" || key.contains("unused pools") {
            s.free += v;
        } else if key.starts_with("# bytes lost to") {
            s.overhead += v;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_cpython_prints() {
        let text = "Small block threshold = 512, in 32 size classes.\n\
            # arenas allocated total           =                    7\n\
            # arenas allocated current         =                    4\n\
            4 arenas * 1048576 bytes/arena     =            4,194,304\n\
            \n\
            # bytes in allocated blocks        =            3,989,136\n\
            # bytes in available blocks        =               73,360\n\
            12 unused pools * 16384 bytes      =              196,608\n\
            # bytes lost to pool headers       =               12,480\n\
            # bytes lost to quantization       =               24,272\n\
            # bytes lost to arena alignment    =                    0\n\
            Total                              =            4,294,304\n";
        let s = parse(text);
        assert_eq!(
            s,
            PymallocStats {
                arenas: 4,
                arena_size: 1048576,
                allocated: 3_989_136,
                free: 73_360 + 196_608,
                overhead: 12_480 + 24_272,
            }
        );
        assert_eq!(s.held(), 4_194_304);
    }
}
