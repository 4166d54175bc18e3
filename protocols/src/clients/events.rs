//! The client system's trace events: the clients' (`client.*`), the tasks' (`task.*`) and
//! the client manager's on every engine node (`cm.*`). Ids print one way everywhere, in
//! trace fields and checker messages: an event or dialogue as its [`EventId`]
//! (`node.inc.job/eN`), a task as its [`TaskAddr`] (`node.inc.job/tC.X.I`: client, context, index), a client as its
//! number, a context as its number within its client.

use super::manager::{ClientId, EventId, TaskAddr};
use sim::event::NodeId;
use sim::time::SimTime;

sim::trace_events! {
    /// A client process outside the engine: its sessions with the master, the messages it
    /// receives and what it reads of its lists.
    pub enum ClientEvent in "client" {
        /// The master welcomed the client (first contact, or reconnection).
        Welcome as "welcome" {
            /// The client's id.
            client: ClientId,
            /// The master that welcomed it.
            master: NodeId,
            /// Whether the client had an id already (a reconnection keeps it).
            resumed: bool,
        },
        /// The master stayed silent past the session timeout; the client looks for another.
        Lost as "lost" {
            /// The master given up on.
            master: NodeId,
        },
        /// A pushed message arrived from a node: every copy, duplicates included, from the
        /// client's first welcome on (before it, the client cannot tell whose it is).
        Receive as "receive" {
            /// The client.
            client: ClientId,
            /// The message's context.
            context: u32,
            /// The message's place in its context's list.
            seq: u64,
            /// The event the message reports.
            event: EventId,
            /// The node that sent it (the master, as that node believed).
            master: NodeId,
            /// Whether the client had received this place already and dropped the copy.
            duplicate: bool,
        },
        /// A received message reached the client's user: once, and only after every message
        /// below it in its context's list.
        Deliver as "deliver" {
            /// The client.
            client: ClientId,
            /// The context whose list holds the message.
            context: u32,
            /// The message's place in that list.
            seq: u64,
            /// The event the message reports.
            event: EventId,
            /// Whether the message asks the client a question (a dialogue).
            question: bool,
            /// The message as the catalog formatted it.
            text: String,
        },
        /// The client answered a dialogue's question.
        Reply as "reply" {
            /// The client.
            client: ClientId,
            /// The dialogue answered.
            dialogue: EventId,
            /// The answer.
            reply: String,
        },
        /// The client read a context's list.
        List as "list" {
            /// The client.
            client: ClientId,
            /// The context read.
            context: u32,
            /// The sequence numbers listed, newest first.
            seqs: Vec<u64>,
            /// When the client first asked for it.
            asked: SimTime,
        },
        /// The client read the top of a context's list.
        Top as "top" {
            /// The client.
            client: ClientId,
            /// The context read.
            context: u32,
            /// The top message's sequence number (absent when the list is empty).
            seq: Option<u64>,
            /// When the client first asked for it.
            asked: SimTime,
        },
        /// The master removed a message from a context's list, as the client asked.
        Remove as "remove" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// The message removed.
            seq: u64,
        },
    }
}

sim::trace_events! {
    /// The tasks on the engine nodes: the events they raise and the dialogues they wait on.
    pub enum TaskEvent in "task" {
        /// A task detected an event and submits it to the client manager.
        Raise as "raise" {
            /// The event.
            event: EventId,
            /// The client it is for.
            client: ClientId,
            /// The client's context it is for.
            context: u32,
            /// The catalog code (a buggy task may name one the catalog lacks).
            code: String,
            /// The task that raised it.
            task: TaskAddr,
            /// Whether it asks the client a question (a dialogue).
            question: bool,
        },
        /// A task asked its client a question and waits for the answer.
        Ask as "ask" {
            /// The dialogue (its event's id).
            dialogue: EventId,
            /// The task waiting.
            task: TaskAddr,
            /// The answer it gets if the client does not reply in time.
            default: String,
            /// When the default applies.
            deadline: SimTime,
        },
        /// A dialogue's answer reached a waiting task.
        Answer as "answer" {
            /// The dialogue.
            dialogue: EventId,
            /// The task it reached.
            task: TaskAddr,
            /// The answer.
            reply: String,
            /// Whether it is the default (the deadline passed, or the question was refused).
            defaulted: bool,
        },
        /// The client manager refused a raised event.
        Refused as "refused" {
            /// The event.
            event: EventId,
            /// Why (an unknown code, a missing parameter, no such context).
            reason: String,
        },
    }
}

sim::trace_events! {
    /// The client manager: what every replica stores and evicts, and what the master does
    /// for its clients.
    pub enum CmEvent in "cm" {
        /// The master answered a client's request.
        Serve as "serve" {
            /// The client.
            client: ClientId,
            /// The answer: welcome, opened, polled, listed, topped, removed or replied.
            what: &'static str,
            /// The view the master serves (0 when it serves none).
            view: u64,
        },
        /// The master pushed a stored message to its client.
        Push as "push" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// The message's place in the context's list.
            seq: u64,
            /// The event the message reports.
            event: EventId,
            /// The view the master serves (0 when it serves none).
            view: u64,
            /// Whether it is sent again (the client had not acknowledged it).
            resend: bool,
        },
        /// A reconnecting client told the master what it received.
        Resume as "resume" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// Everything up to this sequence number arrived.
            after: u64,
        },
        /// A client acknowledged more of a context.
        Ack as "ack" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// Everything up to this sequence number arrived.
            upto: u64,
        },
        /// The master timed a dialogue out: its task gets the default answer.
        Timeout as "timeout" {
            /// The dialogue.
            dialogue: EventId,
            /// The view the master serves (0 when it serves none).
            view: u64,
        },
        /// A replica stored a message in a context's list.
        Store as "store" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// The message's place in the list.
            seq: u64,
            /// The event the message reports.
            event: EventId,
            /// The event's catalog code.
            code: String,
        },
        /// A replica evicted the oldest message of a full list.
        Evict as "evict" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// The message evicted.
            seq: u64,
        },
        /// Planted bug: a new master dropped the newest stored message.
        Forgot as "forgot" {
            /// The client.
            client: ClientId,
            /// The context.
            context: u32,
            /// The message dropped.
            seq: u64,
        },
    }
}
