//! The key-value register's trace events (`kv.*`): what its clients invoked and saw (the
//! history the linearizability checker reads), and what the master did for them.

use protocols::service::replica::Pos;
use std::sync::Arc;

sim::trace_events! {
    /// The key-value register's clients and master.
    pub enum KvEvent in "kv" {
        /// A client invoked an operation.
        Invoke as "invoke" {
            /// The client's number for it.
            req: u64,
            /// `get`, `put` or `cas`.
            op: &'static str,
            /// The key.
            key: Arc<str>,
            /// What a put writes, or what a compare-and-set sets.
            value: Option<Arc<str>>,
            /// The value a compare-and-set expects.
            from: Option<Arc<str>>,
        },
        /// The operation completed: a get with the value read, a put or a
        /// compare-and-set that took effect.
        Ok as "ok" {
            /// The client's number for the request.
            req: u64,
            /// A get's value (the empty string: never written).
            value: Option<Arc<str>>,
        },
        /// A compare-and-set did not take effect: the key did not hold the expected value.
        Failed as "failed" {
            /// The client's number for the request.
            req: u64,
        },
        /// The service rejected the request: it never took effect.
        Rejected as "rejected" {
            /// The client's number for the request.
            req: u64,
            /// Why the service rejected it.
            why: String,
        },
        /// The client stopped waiting: the operation's outcome stays unknown (it may take
        /// effect later, or never).
        GaveUp as "gave_up" {
            /// The client's number for the request.
            req: u64,
        },
        /// The master answered a get from its replica.
        Read as "read" {
            /// The view it serves.
            view: u64,
            /// The client node.
            client: u64,
            /// The client's number for the request.
            req: u64,
            /// The key.
            key: Arc<str>,
            /// The value read.
            value: Arc<str>,
        },
        /// The master multicast a client's write to the group.
        Propose as "propose" {
            /// The view the master serves.
            view: u64,
            /// The client node.
            client: u64,
            /// The client's number for the request.
            req: u64,
        },
        /// The master answered a write its replica applied.
        Answer as "answer" {
            /// The view the master serves.
            view: u64,
            /// The client node.
            client: u64,
            /// The client's number for the request.
            req: u64,
            /// Where in the agreed order it applied.
            at: Pos,
        },
    }
}
