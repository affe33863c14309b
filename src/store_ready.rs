//! Waiting for a kube reflector store's first list from any number of tasks.
//!
//! kube's `Store::wait_until_ready` must not be awaited by several tasks: it keeps one waker (a
//! oneshot receiver's), so only the task that polled it last is woken and the others hang for
//! good, each holding a reconcile slot. Both controllers wait on their stores through this.

use std::hash::Hash;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kube::Resource;
use kube::runtime::reflector::Store;

/// A future that resolves once a reflector store holds its first list; clone it to wait.
pub(crate) type Ready = Shared<BoxFuture<'static, ()>>;

/// Resolves once `store` holds its first list; any number of tasks may await (clones of) it.
pub(crate) fn ready_once<K>(store: Store<K>) -> Ready
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    async move {
        let _ = store.wait_until_ready().await;
    }
    .boxed()
    .shared()
}
