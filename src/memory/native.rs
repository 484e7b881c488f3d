//! Native memory: blocks that extension modules and the C libraries they load take straight from
//! the C allocator (numpy's array data, buffers of C libraries), which the object and mem domains
//! never see, and the raw domain (`PyMem_RawMalloc`, where numpy 2.5 puts array data).
//!
//! The raw domain is hooked like the other two, except for the calls pymalloc itself makes for
//! large blocks of the object and mem domains (those are charged there).
//!
//! Each loaded shared object but the interpreter, the C library, the loader and refscope itself
//! gets the entries of its global offset table for `malloc` and its kin pointed at the hooks
//! below; objects loaded later (an extension module's `import`, ctypes) are patched when `dlopen`
//! returns, which is hooked in every object. Calls come from any thread, with or without the GIL,
//! so the state sits behind a spin lock (a fork may happen while another thread holds it: the
//! child takes it back). Blocks are charged to the line the calling thread runs; threads that
//! never ran your code (a BLAS pool) charge the outside bucket.

use crate::capture::Header;
use crate::record::{SLOT_WORDS, W_NATIVE_ALLOCS, W_NATIVE_ALLOC_BYTES, W_NATIVE_FREED_BYTES, W_NATIVE_FREES};
use crate::site;
use pyo3::ffi::{self, PyMemAllocatorDomain, PyMemAllocatorEx};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};

struct State {
    live: FxHashMap<usize, (u64, u32)>,
    counters: *mut u64,
    header: *const Header,
    outside: u32,
}

struct Locked(UnsafeCell<Option<State>>);

// SAFETY: the state is touched only while LOCK is held.
unsafe impl Sync for Locked {}

static STATE: Locked = Locked(UnsafeCell::new(None));
static LOCK: AtomicBool = AtomicBool::new(false);
/// Whether blocks are being charged (the hooks only forward otherwise).
static ON: AtomicBool = AtomicBool::new(false);
/// Bytes in native blocks allocated since tracking began and not freed yet.
static LIVE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while the object or mem domain's own allocator runs on this thread.
    static PYTHON: Cell<bool> = const { Cell::new(false) };
}

/// Runs one call of the object or mem domain's allocator: the raw blocks it takes are that
/// domain's, not native.
#[inline(always)]
pub fn python<R>(f: impl FnOnce() -> R) -> R {
    let before = PYTHON.with(|c| c.replace(true));
    let r = f();
    PYTHON.with(|c| c.set(before));
    r
}

#[inline(always)]
fn in_python() -> bool {
    PYTHON.with(Cell::get)
}

/// Holds the lock; the state while it lives.
struct Guard;

impl Guard {
    #[inline(always)]
    fn take() -> Guard {
        let mut spins = 0u32;
        while LOCK.compare_exchange_weak(false, true, Acquire, Relaxed).is_err() {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Guard
    }

    #[inline(always)]
    fn state(&mut self) -> Option<&mut State> {
        // SAFETY: LOCK is held for as long as `self` lives, so no other reference is live.
        unsafe { (*STATE.0.get()).as_mut() }
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        LOCK.store(false, Release);
    }
}

impl State {
    #[inline(always)]
    fn add(&self, slot: u32, word: usize, v: u64) {
        // SAFETY: slot < SLOT_CAPACITY, so the word is inside the capture mapping; native words
        // are written only under LOCK.
        unsafe { *self.counters.add(SLOT_WORDS * slot as usize + word) += v };
    }

    fn header(&self) -> &Header {
        // SAFETY: the capture mapping outlives tracking (`stop` runs before it is unmapped).
        unsafe { &*self.header }
    }

    fn slot(&self, s: u32) -> u32 {
        if s == crate::record::NO_SLOT {
            self.outside
        } else {
            s
        }
    }
}

/// Bytes in live native blocks now.
#[inline(always)]
pub fn live_bytes() -> u64 {
    LIVE.load(Relaxed)
}

#[inline(always)]
fn record_alloc(p: *mut c_void, size: usize) {
    if p.is_null() || !ON.load(Relaxed) {
        return;
    }
    let Some(cur) = site::current() else { return };
    let mut g = Guard::take();
    let Some(s) = g.state() else { return };
    let slot = s.slot(cur);
    let size = size as u64;
    if let Some((old, _)) = s.live.insert(p as usize, (size, slot)) {
        // Freed where this table could not see it (by an object that is not patched).
        LIVE.fetch_sub(old, Relaxed);
    }
    s.add(slot, W_NATIVE_ALLOC_BYTES, size);
    s.add(slot, W_NATIVE_ALLOCS, 1);
    let native = LIVE.fetch_add(size, Relaxed) + size;
    let h = &s.header().mem;
    h.native.store(native, Relaxed);
    let total = native + h.heap.load(Relaxed);
    if total > h.peak.load(Relaxed) {
        super::new_peak(h, total, slot);
    }
}

#[inline(always)]
fn record_free(p: *mut c_void, shrink: Option<usize>) {
    if p.is_null() || !ON.load(Relaxed) {
        return;
    }
    let mut g = Guard::take();
    let Some(s) = g.state() else { return };
    let Some(&(size, at)) = s.live.get(&(p as usize)) else {
        return;
    };
    let gone = match shrink {
        // munmap of the start of a region: the rest stays mapped.
        Some(len) if (len as u64) < size => {
            s.live.remove(&(p as usize));
            s.live.insert(p as usize + len, (size - len as u64, at));
            len as u64
        }
        _ => {
            s.live.remove(&(p as usize));
            size
        }
    };
    let slot = s.slot(site::line());
    s.add(slot, W_NATIVE_FREED_BYTES, gone);
    s.add(slot, W_NATIVE_FREES, 1);
    let native = LIVE.fetch_sub(gone, Relaxed) - gone;
    s.header().mem.native.store(native, Relaxed);
}

fn raw(ctx: *mut c_void) -> &'static PyMemAllocatorEx {
    // SAFETY: ctx is the leaked allocator `start` read; it is never freed.
    unsafe { &*(ctx as *const PyMemAllocatorEx) }
}

extern "C" fn raw_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let o = raw(ctx);
    let p = (o.malloc.unwrap())(o.ctx, size);
    if !in_python() {
        record_alloc(p, size);
    }
    p
}

extern "C" fn raw_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let o = raw(ctx);
    let p = (o.calloc.unwrap())(o.ctx, n, size);
    if !in_python() {
        record_alloc(p, n.saturating_mul(size));
    }
    p
}

extern "C" fn raw_realloc(ctx: *mut c_void, old: *mut c_void, size: usize) -> *mut c_void {
    let o = raw(ctx);
    let p = (o.realloc.unwrap())(o.ctx, old, size);
    if !in_python() && (!p.is_null() || size == 0) {
        record_free(old, None);
        record_alloc(p, size);
    }
    p
}

extern "C" fn raw_free(ctx: *mut c_void, p: *mut c_void) {
    let o = raw(ctx);
    if !in_python() {
        record_free(p, None);
    }
    (o.free.unwrap())(o.ctx, p)
}

/// The raw domain's allocator before `start` (leaked: a block freed later may need it).
static RAW_ORIGINAL: std::sync::atomic::AtomicPtr<PyMemAllocatorEx> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

extern "C" fn hook_malloc(size: usize) -> *mut c_void {
    // SAFETY: forwards to the C allocator (refscope's own table is never patched).
    let p = unsafe { libc::malloc(size) };
    record_alloc(p, size);
    p
}

extern "C" fn hook_calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: as in hook_malloc.
    let p = unsafe { libc::calloc(n, size) };
    record_alloc(p, n.saturating_mul(size));
    p
}

extern "C" fn hook_realloc(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as in hook_malloc; `old` comes from the caller, as for realloc.
    let p = unsafe { libc::realloc(old, size) };
    if !p.is_null() || size == 0 {
        record_free(old, None);
        record_alloc(p, size);
    }
    p
}

extern "C" fn hook_reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(bytes) = n.checked_mul(size) else {
        // SAFETY: the C library sets errno and returns null for an overflowing request.
        return unsafe { libc::reallocarray(old, n, size) };
    };
    hook_realloc(old, bytes)
}

extern "C" fn hook_free(p: *mut c_void) {
    record_free(p, None);
    // SAFETY: as in hook_malloc; `p` comes from the caller, as for free.
    unsafe { libc::free(p) }
}

extern "C" fn hook_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: as in hook_malloc; `out` comes from the caller, as for posix_memalign.
    let r = unsafe { libc::posix_memalign(out, align, size) };
    if r == 0 {
        // SAFETY: posix_memalign succeeded, so it wrote `*out`.
        record_alloc(unsafe { *out }, size);
    }
    r
}

extern "C" fn hook_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: as in hook_malloc.
    let p = unsafe { libc::aligned_alloc(align, size) };
    record_alloc(p, size);
    p
}

extern "C" fn hook_memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: as in hook_malloc.
    let p = unsafe { libc::memalign(align, size) };
    record_alloc(p, size);
    p
}

extern "C" {
    fn valloc(size: usize) -> *mut c_void;
}

extern "C" fn hook_valloc(size: usize) -> *mut c_void {
    // SAFETY: as in hook_malloc.
    let p = unsafe { valloc(size) };
    record_alloc(p, size);
    p
}

extern "C" fn hook_mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    // SAFETY: forwards the caller's arguments to the system call wrapper.
    let p = unsafe { libc::mmap(addr, len, prot, flags, fd, off) };
    // Only anonymous memory is the program's allocation; a mapped file is the file's.
    if p != libc::MAP_FAILED && flags & libc::MAP_ANONYMOUS != 0 {
        record_alloc(p, len);
    }
    p
}

extern "C" fn hook_munmap(addr: *mut c_void, len: usize) -> c_int {
    // SAFETY: forwards the caller's arguments to the system call wrapper.
    let r = unsafe { libc::munmap(addr, len) };
    if r == 0 {
        record_free(addr, Some(len));
    }
    r
}

extern "C" fn hook_dlopen(file: *const c_char, flags: c_int) -> *mut c_void {
    // SAFETY: forwards the caller's arguments to the loader.
    let h = unsafe { libc::dlopen(file, flags) };
    if !h.is_null() && ON.load(Relaxed) {
        patch_all();
    }
    h
}

/// (symbol, hook, only in objects whose allocations are charged).
fn hooks() -> [(&'static [u8], usize, bool); 13] {
    [
        (b"malloc", hook_malloc as *const () as usize, true),
        (b"calloc", hook_calloc as *const () as usize, true),
        (b"realloc", hook_realloc as *const () as usize, true),
        (b"reallocarray", hook_reallocarray as *const () as usize, true),
        (b"free", hook_free as *const () as usize, true),
        (b"posix_memalign", hook_posix_memalign as *const () as usize, true),
        (b"aligned_alloc", hook_aligned_alloc as *const () as usize, true),
        (b"memalign", hook_memalign as *const () as usize, true),
        (b"valloc", hook_valloc as *const () as usize, true),
        (b"mmap", hook_mmap as *const () as usize, true),
        (b"mmap64", hook_mmap as *const () as usize, true),
        (b"munmap", hook_munmap as *const () as usize, true),
        (b"dlopen", hook_dlopen as *const () as usize, false),
    ]
}

/// Objects whose allocations are not charged here: the interpreter (PEP 445's hooks see what it
/// allocates for Python; the rest is its own), the C library and the loader.
fn charged(name: &[u8]) -> bool {
    let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
    !(name.is_empty()
        || base.starts_with(b"libpython")
        || base.starts_with(b"libc.so")
        || base.starts_with(b"libc-")
        || base.starts_with(b"ld-linux")
        || base.starts_with(b"ld64")
        || base.starts_with(b"linux-vdso")
        || base.starts_with(b"libm.so")
        || base.starts_with(b"libdl.so")
        || base.starts_with(b"libpthread.so"))
}

/// Object load addresses already patched, and the loader's load/unload counts when they were.
static PATCHED: std::sync::Mutex<(u64, u64, Option<FxHashSet<usize>>)> = std::sync::Mutex::new((0, 0, None));

struct Scan {
    seen: FxHashSet<usize>,
    own: usize,
}

/// Points every loaded object not yet patched at the hooks.
fn patch_all() {
    let Ok(mut p) = PATCHED.lock() else { return };
    let mut scan = Scan {
        seen: p.2.take().unwrap_or_default(),
        own: hook_malloc as *const () as usize,
    };
    // SAFETY: the callback only reads the loader's descriptions of loaded objects and writes
    // their offset tables (see `patch`).
    unsafe { libc::dl_iterate_phdr(Some(each_object), &mut scan as *mut Scan as *mut c_void) };
    p.2 = Some(scan.seen);
}

unsafe extern "C" fn each_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid description and our `Scan`.
    let (info, scan) = unsafe { (&*info, &mut *(data as *mut Scan)) };
    let base = info.dlpi_addr as usize;
    // SAFETY: the loader gives each object's program headers and its name (or null).
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let name = if info.dlpi_name.is_null() {
        &b""[..]
    } else {
        // SAFETY: a NUL-terminated name owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let mut inside_own = false;
    let mut relro = (0usize, 0usize);
    let mut dynamic = None;
    for ph in phdrs {
        let start = base + ph.p_vaddr as usize;
        match ph.p_type {
            libc::PT_LOAD if (start..start + ph.p_memsz as usize).contains(&scan.own) => inside_own = true,
            libc::PT_DYNAMIC => dynamic = Some(start),
            libc::PT_GNU_RELRO => relro = (start, start + ph.p_memsz as usize),
            _ => {}
        }
    }
    if inside_own || !scan.seen.insert(base) {
        return 0;
    }
    if let Some(d) = dynamic {
        // SAFETY: `d` is the object's dynamic section, mapped while the object is loaded.
        unsafe { patch(base, d as *const Dyn, relro, charged(name)) };
    }
    0
}

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
#[cfg(target_arch = "x86_64")]
const RELOCS: [u32; 2] = [6, 7]; // R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT
#[cfg(target_arch = "aarch64")]
const RELOCS: [u32; 2] = [1025, 1026]; // R_AARCH64_GLOB_DAT, R_AARCH64_JUMP_SLOT

/// Rewrites the offset-table entries of the hooked symbols in one object.
///
/// # Safety
/// `dynamic` must be the dynamic section of the object loaded at `base`.
unsafe fn patch(base: usize, dynamic: *const Dyn, relro: (usize, usize), charged: bool) {
    let (mut strtab, mut symtab, mut rela, mut relasz, mut jmprel, mut pltsz) = (0, 0, 0, 0, 0, 0);
    let mut d = dynamic;
    // The loader has already relocated the pointers of most objects; not those of a few.
    let at = |v: u64| {
        if (v as usize) < base {
            base + v as usize
        } else {
            v as usize
        }
    };
    loop {
        // SAFETY: the dynamic section ends with a DT_NULL entry.
        let e = unsafe { &*d };
        match e.tag {
            DT_NULL => break,
            DT_STRTAB => strtab = at(e.val),
            DT_SYMTAB => symtab = at(e.val),
            DT_RELA => rela = at(e.val),
            DT_RELASZ => relasz = e.val as usize,
            DT_JMPREL => jmprel = at(e.val),
            DT_PLTRELSZ => pltsz = e.val as usize,
            _ => {}
        }
        // SAFETY: still inside the section (DT_NULL not reached).
        d = unsafe { d.add(1) };
    }
    if strtab == 0 || symtab == 0 {
        return;
    }
    let hooks = hooks();
    for (table, bytes) in [(rela, relasz), (jmprel, pltsz)] {
        if table == 0 {
            continue;
        }
        let n = bytes / std::mem::size_of::<libc::Elf64_Rela>();
        // SAFETY: the relocation table the dynamic section names, `n` entries long.
        let relocs = unsafe { std::slice::from_raw_parts(table as *const libc::Elf64_Rela, n) };
        for r in relocs {
            if !RELOCS.contains(&((r.r_info & 0xffff_ffff) as u32)) {
                continue;
            }
            // SAFETY: the symbol index of a relocation is inside the symbol table, and its name
            // offset inside the string table.
            let sym = unsafe { &*(symtab as *const libc::Elf64_Sym).add((r.r_info >> 32) as usize) };
            // SAFETY: as above.
            let name = unsafe { CStr::from_ptr((strtab + sym.st_name as usize) as *const c_char) }.to_bytes();
            let Some(&(_, hook, only_charged)) = hooks.iter().find(|h| h.0 == name) else {
                continue;
            };
            if only_charged && !charged {
                continue;
            }
            let slot = (base + r.r_offset as usize) as *mut usize;
            // SAFETY: `slot` is the object's offset-table entry for this symbol. Entries in the
            // read-only-after-relocation range are made writable for the store and then read-only
            // again; the others are writable already. A pointer-sized aligned store is atomic, so
            // a thread calling through the entry meanwhile sees the old or the new function.
            unsafe {
                if *slot == hook {
                    continue;
                }
                let protected = (relro.0..relro.1).contains(&(slot as usize));
                let page = (slot as usize) & !(page_size() - 1);
                if protected
                    && libc::mprotect(page as *mut c_void, page_size(), libc::PROT_READ | libc::PROT_WRITE) != 0
                {
                    continue;
                }
                std::ptr::write_volatile(slot, hook);
                if protected {
                    libc::mprotect(page as *mut c_void, page_size(), libc::PROT_READ);
                }
            }
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Starts charging native blocks to lines: patches the loaded objects, then turns the hooks on.
pub fn start(counters: *mut u64, header: &Header, outside: u32) {
    {
        let _g = Guard::take();
        // SAFETY: LOCK is held (`_g`), so no other reference to the state is live.
        unsafe {
            *STATE.0.get() = Some(State {
                live: FxHashMap::default(),
                counters,
                header: header as *const Header,
                outside,
            })
        };
    }
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain function with no preconditions, once.
    AT_FORK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forked));
    });
    LIVE.store(0, Relaxed);
    header.mem.native_on.store(1, Relaxed);
    ON.store(true, Release);
    patch_all();
    let mut original = PyMemAllocatorEx {
        ctx: std::ptr::null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    };
    // SAFETY: the GIL is held (the caller installs the other domains' hooks with it); `original`
    // is a valid allocator to fill.
    unsafe { ffi::PyMem_GetAllocator(PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut original) };
    let original = Box::into_raw(Box::new(original));
    RAW_ORIGINAL.store(original, Release);
    let mut hook = PyMemAllocatorEx {
        ctx: original as *mut c_void,
        malloc: Some(raw_malloc),
        calloc: Some(raw_calloc),
        realloc: Some(raw_realloc),
        free: Some(raw_free),
    };
    // SAFETY: GIL held. The hooks forward every call to the allocator read above, so blocks
    // allocated before and after stay interchangeable; they are thread-safe (the raw domain is
    // called without the GIL).
    unsafe { ffi::PyMem_SetAllocator(PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut hook) };
}

/// Stops charging; the patched entries stay and forward (an object may have been unloaded since).
pub fn stop() {
    ON.store(false, Release);
    let original = RAW_ORIGINAL.swap(std::ptr::null_mut(), Acquire);
    if !original.is_null() {
        // SAFETY: the caller holds the GIL; puts back the allocator `start` read (kept alive).
        unsafe { ffi::PyMem_SetAllocator(PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut *original) };
    }
    let _g = Guard::take();
    // SAFETY: LOCK is held (`_g`).
    unsafe { *STATE.0.get() = None };
}

/// In a forked child, right after the fork: another thread of the parent may have held the lock.
extern "C" fn forked() {
    LOCK.store(false, Release);
}

/// Native blocks still allocated, by allocating slot: (slot, blocks, bytes).
pub fn survivors(by: &mut FxHashMap<u32, (u64, u64)>) {
    let mut g = Guard::take();
    let Some(s) = g.state() else { return };
    for &(size, slot) in s.live.values() {
        let e = by.entry(slot).or_default();
        e.0 += 1;
        e.1 += size;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interpreter_and_the_c_library_are_not_charged() {
        use super::charged;
        assert!(!charged(b""));
        assert!(!charged(b"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"));
        assert!(!charged(b"/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(!charged(b"/lib64/ld-linux-x86-64.so.2"));
        assert!(charged(
            b"/site-packages/numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
        ));
        assert!(charged(b"/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    }
}
