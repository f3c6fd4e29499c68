// The one rayon pool used by training and batch encoding. It is process-wide
// so `bpe_set_num_threads` can resize it without threading a handle through
// the C ABI; callers grab an Arc so a resize never pulls a pool out from
// under a running job.

use std::cell::Cell;
use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{BpeError, Result};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

thread_local! {
    /// True on our own worker threads; the FFI panic hook stays silent there.
    pub(crate) static IS_POOL_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn build(n: usize) -> Result<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(n) // 0 = rayon's default: one per core
        .thread_name(|i| format!("nanochat-bpe-{i}"))
        .start_handler(|_| IS_POOL_THREAD.with(|f| f.set(true)))
        .build()
        .map_err(|e| BpeError::internal(format!("could not build thread pool: {e}")))
}

/// Replace the pool; `n == 0` means one thread per core.
pub fn set_num_threads(n: usize) -> Result<()> {
    let pool = Arc::new(build(n)?);
    *POOL.write().unwrap_or_else(|p| p.into_inner()) = Some(pool);
    Ok(())
}

/// The current pool, created with the default size on first use.
pub fn current() -> Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(p.clone());
    }
    let mut guard = POOL.write().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        *guard = Some(Arc::new(build(0)?));
    }
    Ok(guard.as_ref().expect("pool just set").clone())
}

/// Number of threads in the current pool.
pub fn num_threads() -> usize {
    current().map(|p| p.current_num_threads()).unwrap_or(1)
}
