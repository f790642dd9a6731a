//! Process-wide allocator settings for the server.
//!
//! glibc's default keeps only 128 KiB spare at the top of each heap and hands
//! the rest back to the kernel on `free`. A scan allocates and frees buffers
//! of several MiB per batch (decoded pages, filtered columns), so every batch
//! faulted its pages in again and the kernel zeroed them: on TSBS
//! `high-cpu-all` over 100M rows that was about 95,000 page faults and a third
//! of the server's CPU per query (docs/BENCHMARKS.md, "Allocator: spare heap
//! top"). Keeping 64 MiB spare per heap removes the faults; the cost is at most
//! that much resident memory per active allocator arena.

/// Spare memory glibc keeps at the top of each heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD_BYTES: libc::c_int = 64 << 20;

/// Applies the server's allocator settings. Call before any thread starts.
/// A `MALLOC_TOP_PAD_` or `GLIBC_TUNABLES` setting from the environment wins,
/// so an operator can still choose.
pub(crate) fn tune_for_server() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if std::env::var_os("MALLOC_TOP_PAD_").is_some() || tunables.contains("top_pad") {
            return;
        }
        // SAFETY: mallopt only sets a parameter of the allocator; it is called
        // before the runtime spawns threads.
        let ok = unsafe { libc::mallopt(libc::M_TOP_PAD, TOP_PAD_BYTES) };
        if ok != 1 {
            tracing::warn!("could not set the allocator's top pad; scans may run slower");
        }
    }
}
