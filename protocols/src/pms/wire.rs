//! What UI clients and the PMS nodes say to each other, and what the primary and the
//! hosts of threads say between themselves.
//!
//! Client traffic is unreliable datagrams (lost, duplicated, reordered), so every request
//! carries its credential and a request number, is retried until answered, and causes only
//! idempotent commands. Polls travel as engine unicasts between members of one view.

use super::authz::Credential;
use super::script::{ThreadOutput, Val};
use super::status::{Action, PublicStatus, StatusValues, ThreadReport};
use std::collections::BTreeMap;

/// A UI client's request; `req` numbers it within its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiRequest {
    pub cred: Option<Credential>,
    pub req: u64,
    pub op: Op,
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Run `script` as a process of `threads` threads; `retry` re-dispatches the threads
    /// of a host that dies instead of losing them.
    Start {
        name: String,
        script: String,
        threads: u32,
        retry: bool,
    },
    Act {
        process: u64,
        action: Action,
    },
    Status {
        process: u64,
    },
    List,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Start { .. } => "start",
            Op::Act { action, .. } => action.name(),
            Op::Status { .. } => "status",
            Op::List => "list",
        }
    }

    /// The process the request is about, if any.
    pub fn process(&self) -> Option<u64> {
        match self {
            Op::Act { process, .. } | Op::Status { process } => Some(*process),
            Op::Start { .. } | Op::List => None,
        }
    }
}

/// The answer to request `req`, or a redirection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiResponse {
    Started {
        req: u64,
        process: u64,
    },
    Acted {
        req: u64,
        process: u64,
    },
    Status {
        req: u64,
        status: PublicStatus,
        values: StatusValues,
    },
    Listed {
        req: u64,
        processes: Vec<(u64, String, String)>,
    },
    /// Not authorized: an error and nothing else.
    Denied {
        req: u64,
        reason: String,
    },
    /// Authorized but impossible (no such process).
    Error {
        req: u64,
        reason: String,
    },
    /// Not the primary: try `master` (if known).
    Redirect {
        master: Option<usize>,
    },
    /// The primary of the view, not serving yet (catching up or waiting out a lease).
    NotReady,
}

impl UiResponse {
    /// The request answered, if the response answers one.
    pub fn req(&self) -> Option<u64> {
        match self {
            UiResponse::Started { req, .. }
            | UiResponse::Acted { req, .. }
            | UiResponse::Status { req, .. }
            | UiResponse::Listed { req, .. }
            | UiResponse::Denied { req, .. }
            | UiResponse::Error { req, .. } => Some(*req),
            UiResponse::Redirect { .. } | UiResponse::NotReady => None,
        }
    }
}

/// Either direction, as the engine's external datagram payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PmsWire {
    Req(UiRequest),
    Resp(UiResponse),
}

/// One thread a poll asks about: its attempt, and the output pieces the table holds (the
/// host may forget those).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollItem {
    pub process: u64,
    pub thread: u32,
    pub attempt: u32,
    pub applied: u64,
}

/// Between the primary and the hosts of threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMsg {
    /// The primary asks a host for its threads' status, and hands it the private data of
    /// their processes (which only their script threads may read).
    Poll {
        round: u64,
        items: Vec<PollItem>,
        private: BTreeMap<u64, BTreeMap<String, Val>>,
    },
    /// A host's answer: its threads' state and unapplied output, as of `at_ns`.
    Status {
        round: u64,
        at_ns: u64,
        reports: Vec<ThreadReport>,
    },
}

/// A piece of output with the number the host gave it.
pub type Piece = (u64, ThreadOutput);
