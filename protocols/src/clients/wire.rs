//! What clients and the engine nodes say to each other: unreliable datagrams through the
//! simulated network (they may be lost, duplicated, reordered), so every request is
//! retried until answered and every command it causes is idempotent.

use super::catalog::Severity;
use super::manager::{ClientId, Question};

/// A client's request to a node (the master, or whoever it thinks the master is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// First contact (`client: None`) or reconnection after losing the master: the
    /// client's id and, per context, the message it has received everything up to.
    Hello {
        name: String,
        client: Option<ClientId>,
        acked: Vec<(u32, u64)>,
    },
    Open {
        client: ClientId,
        context: u32,
    },
    /// Keep-alive and acknowledgement; the master resends what is still unacknowledged.
    Poll {
        client: ClientId,
        acked: Vec<(u32, u64)>,
    },
    List {
        client: ClientId,
        context: u32,
        req: u64,
    },
    Top {
        client: ClientId,
        context: u32,
        req: u64,
    },
    Remove {
        client: ClientId,
        context: u32,
        seq: u64,
        req: u64,
    },
    Reply {
        client: ClientId,
        dialogue: u64,
        reply: String,
        req: u64,
    },
}

/// A node's answer, or a message pushed by the master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The master serves this client; `contexts` are those open for it.
    Welcome {
        client: ClientId,
        contexts: Vec<u32>,
    },
    /// Not the master: try `master` (if known).
    Redirect {
        master: Option<usize>,
    },
    /// The master of the view, not serving yet (catching up or waiting out a lease).
    NotReady,
    Opened {
        context: u32,
    },
    Polled,
    Push {
        context: u32,
        seq: u64,
        event_id: u64,
        severity: Severity,
        text: String,
        question: Option<Question>,
    },
    Listed {
        context: u32,
        req: u64,
        /// Newest first.
        messages: Vec<(u64, String)>,
    },
    Topped {
        context: u32,
        req: u64,
        top: Option<(u64, String)>,
    },
    Removed {
        context: u32,
        seq: u64,
        req: u64,
    },
    Replied {
        req: u64,
        taken: bool,
    },
}

/// Either direction, as the engine's external datagram payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientWire {
    Req(Request),
    Resp(Response),
}
