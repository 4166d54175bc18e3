//! A replicated state machine over one group of the cluster engine: every member applies
//! the same commands at the same point of the group's agreed order, and a member that may
//! have missed some catches up from a snapshot first.
//!
//! **Positions.** Every delivery has a position `(view, seq)` in the agreed order; a view's
//! install is `(view, 0)`. Positions of the primary component's history only grow, so a
//! higher position extends a lower one. A replica's stored state is at the position of the
//! last command it applied.
//!
//! **Who is current.** A member is *synced* when it holds the group's state. The engine
//! tells every member which members of a new view come from the newest prior view and
//! delivered all of it ([`Change::continuing`](crate::engine::membership::Change), the same
//! set for all). A member outside it may have missed deliveries (its first view after
//! registering, or a view it missed): it turns stale, keeps every delivery in a buffer,
//! and multicasts `NeedState`. A member that loses quorum keeps what it holds but serves
//! nothing: the engine delivers the rest of the lost view right before the next view,
//! which decides, like any other, whether the member continues. Synced members keep the same set of synced
//! members (it changes only at views and deliveries), so they agree on which of them
//! answers: the lowest one multicasts its state, and the stale member installs it. A
//! snapshot delivered in another view than it was made for is ignored by everyone (the
//! stale member asks again in the new view).
//!
//! **When commands apply.** Nobody applies a command while some member of the view lacks
//! the state, or while the view's members are on fewer than a majority of the engine's
//! nodes (a primary view holds a majority of nodes, but a node whose job unregistered
//! after a fault has no replica in it): commands wait, in order, and all apply at the
//! delivery that syncs the last member (a snapshot carries the commands waiting with it).
//! So every replica applies every command at the same point, every applied command is on
//! the disks of a majority of nodes, and no command is ever applied (and shown to a client)
//! by a replica whose state the others could not rebuild if it crashed. Messages delivered
//! in the flush that ends a view (which may not have been stable: only the members that
//! continue together share them) always wait for the next view's rule, and for a stable
//! delivery in that view (a barrier, if nothing else comes): a node of the new view may
//! never install it, and must not be left without what the others applied. A member that
//! turns stale keeps, on its node's disk, the commands it received and had not applied in
//! its last synced view: one stable there was received by every node of that view, and
//! some replica may have applied and served it, so an election counts them (below).
//! Commands nobody kept are lost with their view; whoever submitted them submits them
//! again until it sees them applied.
//!
//! **Synced, but behind.** The engine counts as continuing the members of the newest view
//! any node of the new one reports; a node that went further and restarted reports none,
//! and only its disk remembers. When a member asks for state naming a stored position
//! beyond everything the synced members hold, they all step down at that delivery and
//! the view elects a state as below. A snapshot one of them made before that delivery is
//! void when it arrives after it (a member synced when it was made has asked for state
//! since), and a member synced from such a snapshot steps down when its makers ask.
//!
//! **No synced member left** (the first boot, or every holder of the state crashed): when
//! every member of a view has sent `NeedState`, and the members are on a majority of
//! nodes (so one of their disks holds the last command applied anywhere), the one whose
//! state reaches the highest position, counting the commands it kept, (the lowest member
//! on a tie) sends its stored state with those commands waiting on it, and everyone
//! installs it; the commands apply once all have. A kept command never steps synced
//! members down: one beyond their frontier was not stable, since they would have
//! received it.
//! Each node keeps its state in stable storage ([`ReplicaDisk`]), written as it applies,
//! with the commands it kept, so a whole-cluster restart resumes from the most advanced
//! survivor, and a stale member's job that dies before the election loses nothing.

use super::events::SvcEvent;
use crate::engine::Member;
use sim::emit;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A deterministic state machine: the same commands in the same order give the same
/// state and the same effects on every replica.
pub trait StateMachine: Clone + fmt::Debug + Send + Sync + 'static {
    type Command: Clone + fmt::Debug + Send + Sync + 'static;
    type Effect: Clone + fmt::Debug;

    fn apply(&mut self, cmd: &Self::Command, out: &mut Vec<Self::Effect>);
}

/// A point in the group's agreed order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub view: u64,
    /// The delivery's number within the view (the group sequence); 0 is the install.
    pub seq: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.view, self.seq)
    }
}

sim::trace_field_by_display!(Pos => |p| [p.view, p.seq]);

/// The group's state, for members that lack it.
#[derive(Clone, Debug)]
pub struct Snapshot<S: StateMachine> {
    /// The view the snapshot was made in; delivered in any other, it is ignored.
    pub view: u64,
    /// The members that install it.
    pub for_members: Vec<Member>,
    /// The position of the last command applied to `state`.
    pub at: Pos,
    pub state: S,
    /// Commands delivered up to `held_upto` and not applied yet; receivers add the
    /// commands they buffered after that.
    pub held: Vec<(Pos, S::Command)>,
    pub held_upto: Pos,
    /// The members synced when it was made, at the delivery `made_at`; receivers replay
    /// the synced-set changes delivered after that.
    pub synced: BTreeSet<Member>,
    pub made_at: Pos,
}

/// What replicas multicast to each other.
#[derive(Clone, Debug)]
pub enum ReplicaMsg<S: StateMachine> {
    Cmd(S::Command),
    /// `member` is stale in `view`; its stored state is at `has`, and the commands it kept
    /// of its last synced view reach `kept` (`Pos::default()` if none).
    NeedState {
        member: Member,
        view: u64,
        has: Pos,
        kept: Pos,
    },
    Snapshot(Arc<Snapshot<S>>),
    /// Multicast at an install where the commands held over from the old view could apply:
    /// they apply at its delivery, which, being stable, proves every node of the view
    /// installed the view.
    Barrier {
        view: u64,
    },
}

/// A node's stored replica state; it survives crashes of the node and of its jobs.
#[derive(Debug)]
pub struct Stored<S: StateMachine> {
    pub state: S,
    pub pos: Pos,
    /// Commands received in the last view this node's replica was synced in and never
    /// applied, kept while stale: where every node of that view received one (it was
    /// stable), some replica may have applied and served it, so an election counts them
    /// as part of this state. They are on disk because the replicas that applied them may
    /// be gone, and this node's job or the node itself may die before the election.
    pub kept: Vec<(Pos, S::Command)>,
}

/// One node's store, shared by its replica and the disk that outlives it.
pub type Store<S> = Arc<Mutex<Stored<S>>>;

/// The stable storage of every node of one run.
pub struct ReplicaDisk<S: StateMachine>(Arc<Mutex<BTreeMap<usize, Store<S>>>>);

impl<S: StateMachine> Clone for ReplicaDisk<S> {
    fn clone(&self) -> Self {
        ReplicaDisk(self.0.clone())
    }
}

impl<S: StateMachine> Default for ReplicaDisk<S> {
    fn default() -> Self {
        ReplicaDisk(Arc::new(Mutex::new(BTreeMap::new())))
    }
}

impl<S: StateMachine> ReplicaDisk<S> {
    /// Node `node`'s store, created with `initial` at position zero on first use.
    pub fn open(&self, node: usize, initial: &S) -> Store<S> {
        self.0
            .lock()
            .expect("disk lock")
            .entry(node)
            .or_insert_with(|| {
                Arc::new(Mutex::new(Stored {
                    state: initial.clone(),
                    pos: Pos::default(),
                    kept: Vec::new(),
                }))
            })
            .clone()
    }
}

/// What a replica asks of its shell, or tells it.
#[derive(Debug)]
pub enum ReplicaOut<S: StateMachine> {
    /// Multicast this to the group.
    Multicast(ReplicaMsg<S>),
    /// A command was applied here (and at the same point everywhere).
    Applied {
        cmd: S::Command,
        effects: Vec<S::Effect>,
        pos: Pos,
    },
    /// This replica installed a snapshot and is synced from now on: its state can be read.
    /// One installed while out of the primary component is told when a view counts the
    /// replica as continuing, the first moment its state can be read.
    Synced { at: Pos, from_election: bool },
}

/// One member's replica.
pub struct Replica<S: StateMachine> {
    me: Member,
    store: Store<S>,
    /// How many nodes the engine has: a command applies only where it is on the disks of
    /// a majority of them.
    engine_nodes: usize,
    synced: bool,
    /// Out of the primary component since the last view: the state is kept (the engine
    /// may yet deliver the end of the lost view, and count us as continuing from it), but
    /// not served.
    suspended: bool,
    /// The synced members of the view (meaningful while we are synced).
    peers_synced: BTreeSet<Member>,
    view: Option<(u64, BTreeSet<Member>)>,
    /// Whether the view's members are on a majority of the engine's nodes (asked at every
    /// delivery, known at the install).
    view_on_majority: bool,
    /// The view's commands, waiting for every member to be synced.
    held: Vec<(Pos, S::Command)>,
    /// Deliveries since `buffer_from`, while stale.
    buffer: Vec<(Pos, ReplicaMsg<S>)>,
    buffer_from: Pos,
    /// A snapshot installed while suspended, not yet told: its state cannot be read until
    /// a view counts us as continuing, and whoever waits for `Synced` reads it at once.
    untold: Option<(Pos, bool)>,
    /// `NeedState`s delivered in the current view, with how far each one's state reaches
    /// (its stored position, or the last command it kept if later).
    needs: BTreeMap<Member, Pos>,
    /// Where each `NeedState` of the current view was delivered, in order: a snapshot
    /// made by a synced member is void if one of the members synced when it was made asked
    /// for state before it arrived (all of them stepped down there).
    asks: Vec<(Pos, Member)>,
}

impl<S: StateMachine> Replica<S> {
    /// A replica for member `me` over the node's stored state, in an engine of
    /// `engine_nodes` nodes.
    pub fn new(me: Member, store: Store<S>, engine_nodes: usize) -> Self {
        Replica {
            me,
            store,
            engine_nodes,
            synced: false,
            suspended: false,
            peers_synced: BTreeSet::new(),
            view: None,
            view_on_majority: false,
            held: Vec::new(),
            buffer: Vec::new(),
            buffer_from: Pos::default(),
            untold: None,
            needs: BTreeMap::new(),
            asks: Vec::new(),
        }
    }

    /// Whether this replica holds the group's state and is in a primary view, so the
    /// state may be served.
    pub fn is_synced(&self) -> bool {
        self.synced && !self.suspended
    }

    /// Whether commands were delivered here that wait to apply (until every member is
    /// synced, or a view's barrier): another replica may have applied them already (an
    /// old master, before a view change), so this state is behind what was served.
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Whether commands apply as they arrive: every member of the view is synced, and the
    /// members are on a majority of the engine's nodes.
    pub fn may_apply(&self) -> bool {
        self.synced
            && self.view_on_majority
            && self
                .view
                .as_ref()
                .is_some_and(|(_, m)| m.iter().all(|x| self.peers_synced.contains(x)))
    }

    /// Whether `members` are on a majority of the engine's nodes. A primary view holds a
    /// majority of nodes, but not every node of it need have a member (a job unregisters
    /// on a work-thread fault): what only a minority of disks hold could be lost with
    /// them, and a later view, whose members' disks are all an election reads, would go
    /// on without it. Any two majorities share a node, so a state elected from a majority
    /// of disks holds every command ever applied.
    fn on_majority(&self, members: &BTreeSet<Member>) -> bool {
        let mut nodes = 0;
        let mut last = None;
        // Members order by node first: distinct nodes are counted as they change.
        for m in members {
            if last != Some(m.node) {
                nodes += 1;
                last = Some(m.node);
            }
        }
        2 * nodes > self.engine_nodes
    }

    /// The position of the state (the last command applied to it).
    pub fn pos(&self) -> Pos {
        self.store.lock().expect("store lock").pos
    }

    /// Reads the state; `None` while stale or out of the primary component (such a state
    /// must not be served).
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> Option<R> {
        if !self.is_synced() {
            return None;
        }
        Some(f(&self.store.lock().expect("store lock").state))
    }

    /// Reads the stored state whether or not it is current (for a planted bug that serves
    /// stale data, and for tests).
    pub fn read_stored<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.store.lock().expect("store lock").state)
    }

    /// Changes the stored state behind the group's back: only planted bugs do this.
    pub fn corrupt_for_planted_bug(&mut self, f: impl FnOnce(&mut S)) {
        f(&mut self.store.lock().expect("store lock").state);
    }

    /// The synced members of the view, as this (synced) replica knows them.
    pub fn synced_members(&self) -> &BTreeSet<Member> {
        &self.peers_synced
    }

    fn view_id(&self) -> Option<u64> {
        self.view.as_ref().map(|v| v.0)
    }

    /// A view was installed for this member; `continuing` are the members that delivered
    /// all of the newest prior view.
    pub fn on_view(
        &mut self,
        view: u64,
        members: &BTreeSet<Member>,
        continuing: &BTreeSet<Member>,
        out: &mut Vec<ReplicaOut<S>>,
    ) {
        let install = Pos { view, seq: 0 };
        let continuous = continuing.contains(&self.me);
        self.suspended = false;
        // A snapshot that came in the end of a lost view is readable from here, if this
        // view goes on from it; if not, we ask again and are told at the next snapshot.
        let untold = self.untold.take().filter(|_| self.synced && continuous);
        if let Some((at, from_election)) = untold {
            out.push(ReplicaOut::Synced { at, from_election });
        }
        self.needs.clear();
        self.asks.clear();
        self.view = Some((view, members.clone()));
        self.view_on_majority = self.on_majority(members);
        if self.synced && continuous {
            // The members that continue with us share what we hold; it applies under this
            // view's rule, but not at the install itself: a node of the view may never
            // install it (it refuses an install after losing the view it reported from),
            // and would go on to the next view without what we applied. The first stable
            // delivery of this view shows that every node installed it, so the lowest
            // synced member multicasts a barrier for the held commands to wait for.
            self.peers_synced.retain(|m| continuing.contains(m));
            let lowest = self.peers_synced.iter().find(|m| members.contains(m));
            if !self.held.is_empty() && self.may_apply() && lowest == Some(&self.me) {
                out.push(ReplicaOut::Multicast(ReplicaMsg::Barrier { view }));
            }
            return;
        }
        let held = std::mem::take(&mut self.held);
        if self.synced {
            self.store.lock().expect("store lock").kept = held;
        }
        if self.synced || !continuous {
            // Whatever was buffered may have gaps now: start over from this view.
            self.buffer.clear();
            self.buffer_from = install;
        }
        self.synced = false;
        self.peers_synced.clear();
        let (has, kept) = {
            let stored = self.store.lock().expect("store lock");
            (stored.pos, last_pos(&stored.kept))
        };
        out.push(ReplicaOut::Multicast(ReplicaMsg::NeedState {
            member: self.me,
            view,
            has,
            kept,
        }));
    }

    /// The member is out of the primary component. Its next view decides what becomes of
    /// what it holds: the engine delivers the rest of the lost view right before it, and
    /// if that view counts us as continuing, we go on from here like every other member
    /// that comes from the lost view; if not, we catch up from a snapshot.
    pub fn on_quorum_lost(&mut self) {
        self.suspended = true;
    }

    /// One delivery of the group, at `pos`, in agreed order; `flush` if the engine delivered
    /// it in the flush that ends its view.
    pub fn on_deliver(
        &mut self,
        pos: Pos,
        msg: ReplicaMsg<S>,
        flush: bool,
        out: &mut Vec<ReplicaOut<S>>,
    ) {
        if self.synced {
            self.process(pos, msg, flush, out);
            return;
        }
        let current = self.view_id();
        match &msg {
            ReplicaMsg::Snapshot(s)
                if current == Some(s.view)
                    && s.for_members.contains(&self.me)
                    && !self.void(s, pos)
                    && self.buffer_from
                        <= Pos {
                            view: s.view,
                            seq: 0,
                        } =>
            {
                let s = s.clone();
                self.install(&s, out);
                self.process(pos, msg, flush, out);
                return;
            }
            ReplicaMsg::NeedState {
                member,
                view,
                has,
                kept,
            } if current == Some(*view) => {
                self.note_ask(pos, *member, *has, *kept);
                self.maybe_elect(pos, out);
            }
            _ => {}
        }
        self.buffer.push((pos, msg));
    }

    /// Every member of the view asked for state, so none is synced: the one whose state,
    /// with the commands it kept, is furthest along sends it.
    fn maybe_elect(&mut self, at: Pos, out: &mut Vec<ReplicaOut<S>>) {
        let Some((view, members)) = &self.view else {
            return;
        };
        if !self.view_on_majority || !members.iter().all(|m| self.needs.contains_key(m)) {
            // Without a majority of disks the most advanced state may be on none of them:
            // the next view with more members elects.
            return;
        }
        let chosen = members
            .iter()
            .map(|m| (self.needs[m], std::cmp::Reverse(*m)))
            .max()
            .map(|(_, std::cmp::Reverse(m))| m);
        if chosen != Some(self.me) {
            return;
        }
        // The commands it kept wait in the snapshot as held ones do, and apply once every
        // member installed it.
        let stored = self.store.lock().expect("store lock");
        out.push(ReplicaOut::Multicast(ReplicaMsg::Snapshot(Arc::new(
            Snapshot {
                view: *view,
                for_members: members.iter().copied().collect(),
                at: stored.pos,
                state: stored.state.clone(),
                held: stored.kept.clone(),
                held_upto: Pos {
                    view: *view,
                    seq: 0,
                },
                synced: BTreeSet::new(),
                made_at: at,
            },
        ))));
    }

    /// Takes the group's state; the view's commands buffered so far wait with everyone
    /// else's, and the synced-set changes since the snapshot was made are replayed.
    fn install(&mut self, s: &Snapshot<S>, out: &mut Vec<ReplicaOut<S>>) {
        {
            let mut stored = self.store.lock().expect("store lock");
            stored.state = s.state.clone();
            stored.pos = s.at;
            // The snapshot is at least as far along as what we kept (an election picked
            // it, or a synced member that went through that view made it).
            stored.kept.clear();
        }
        self.synced = true;
        self.peers_synced = s.synced.clone();
        self.held = s.held.clone();
        for (pos, msg) in std::mem::take(&mut self.buffer) {
            match msg {
                ReplicaMsg::Cmd(cmd) if pos > s.held_upto => self.held.push((pos, cmd)),
                ReplicaMsg::Cmd(_) => {}
                meta if pos > s.made_at => self.track(pos, &meta),
                _ => {}
            }
        }
        let told = (s.at, s.synced.is_empty());
        if self.suspended {
            self.untold = Some(told);
        } else {
            out.push(ReplicaOut::Synced {
                at: told.0,
                from_election: told.1,
            });
        }
    }

    /// A `NeedState` of the current view, delivered at `pos`: how far its sender's state
    /// reaches counts in an election, and where it was delivered decides which snapshots
    /// are void.
    fn note_ask(&mut self, pos: Pos, member: Member, has: Pos, kept: Pos) {
        self.needs.insert(member, has.max(kept));
        self.asks.push((pos, member));
    }

    /// Follows the synced set through a `NeedState` or a snapshot delivery.
    fn track(&mut self, pos: Pos, msg: &ReplicaMsg<S>) {
        let Some((view, members)) = &self.view else {
            return;
        };
        match msg {
            ReplicaMsg::NeedState { member, .. } => {
                self.peers_synced.remove(member);
            }
            ReplicaMsg::Snapshot(s) if s.view == *view && !self.void(s, pos) => {
                self.peers_synced
                    .extend(s.for_members.iter().filter(|m| members.contains(m)));
            }
            _ => {}
        }
    }

    /// Whether snapshot `s`, delivered at `at`, was made by a synced member that stepped
    /// down before it arrived: a synced member asks for state within a view only when it
    /// steps down, and all synced members step down at the same delivery, so the state it
    /// carries is one the view gave up for a more advanced one. Every replica sees the same
    /// deliveries, so all agree on which snapshots are void. Elected snapshots, made with
    /// nobody synced, never are.
    fn void(&self, s: &Snapshot<S>, at: Pos) -> bool {
        self.asks
            .iter()
            .any(|(p, m)| *p > s.made_at && *p < at && s.synced.contains(m))
    }

    /// The furthest position of the history before the current view that this replica's
    /// state reaches: its stored state and the waiting commands of earlier views. Commands
    /// of the current view are left out: every one of them is positioned after any earlier
    /// view, so they would hide a disk that went further in a view we never saw, and a
    /// stored state can never be in the current view (its node would have been synced).
    fn frontier(&self) -> Pos {
        let start = Pos {
            view: self.view_id().unwrap_or(0),
            seq: 0,
        };
        let earlier = self.held.iter().rev().find(|(p, _)| *p < start);
        self.pos()
            .max(earlier.map_or_else(Pos::default, |(p, _)| *p))
    }

    /// A member of the view stored a state beyond everything we hold, so what the engine
    /// counted as continuing is behind the group's history (the nodes that went further
    /// restarted, and only their disks kept it). Every synced member sees the same
    /// delivery and steps down together; with nobody synced, the most advanced stored
    /// state is elected. Commands of this view wait in the buffer as a stale member's do;
    /// older waiting ones are lost, and their senders submit them again.
    fn step_down(&mut self, out: &mut Vec<ReplicaOut<S>>) {
        let Some((view, _)) = &self.view else { return };
        let start = Pos {
            view: *view,
            seq: 0,
        };
        self.synced = false;
        self.peers_synced.clear();
        self.buffer = std::mem::take(&mut self.held)
            .into_iter()
            .filter(|(p, _)| *p > start)
            .map(|(p, c)| (p, ReplicaMsg::Cmd(c)))
            .collect();
        self.buffer_from = start;
        let has = self.pos();
        out.push(ReplicaOut::Multicast(ReplicaMsg::NeedState {
            member: self.me,
            view: *view,
            has,
            kept: Pos::default(),
        }));
    }

    /// Processes one delivery on a synced replica.
    fn process(&mut self, pos: Pos, msg: ReplicaMsg<S>, flush: bool, out: &mut Vec<ReplicaOut<S>>) {
        match msg {
            ReplicaMsg::Cmd(cmd) => self.held.push((pos, cmd)),
            // Only a stored state steps the synced members down: what a stale member kept
            // beyond their frontier was never stable (they would have received it), so no
            // replica applied it. A member we count as synced asks only when it stepped
            // down, at a delivery before we were synced: our state came from it or its
            // peers before then, so we step down with it.
            ReplicaMsg::NeedState {
                member,
                view,
                has,
                kept,
            } if self.view_id() == Some(view)
                && (has > self.frontier() || self.peers_synced.contains(&member)) =>
            {
                emit!(
                    self.me.node,
                    SvcEvent::StepDown {
                        member: self.me,
                        at: self.frontier(),
                        behind: member,
                        has,
                    }
                );
                self.note_ask(pos, member, has, kept);
                self.step_down(out);
                return;
            }
            ReplicaMsg::NeedState {
                member,
                view,
                has,
                kept,
            } => {
                if self.view_id() == Some(view) {
                    self.note_ask(pos, member, has, kept);
                }
                // Its sender is stale from here on.
                self.peers_synced.remove(&member);
                let responder = self
                    .view
                    .as_ref()
                    .and_then(|(_, members)| self.peers_synced.iter().find(|m| members.contains(m)))
                    .copied();
                if self.view_id() == Some(view) && responder == Some(self.me) {
                    let stored = self.store.lock().expect("store lock");
                    out.push(ReplicaOut::Multicast(ReplicaMsg::Snapshot(Arc::new(
                        Snapshot {
                            view,
                            for_members: vec![member],
                            at: stored.pos,
                            state: stored.state.clone(),
                            held: self.held.clone(),
                            held_upto: pos,
                            synced: self.peers_synced.clone(),
                            made_at: pos,
                        },
                    ))));
                }
            }
            ref snapshot @ ReplicaMsg::Snapshot(_) => self.track(pos, snapshot),
            ReplicaMsg::Barrier { .. } => {}
        }
        // What a flush delivers waits for the next view's rule.
        if !flush && self.may_apply() {
            self.apply_held(out);
        }
    }

    fn apply_held(&mut self, out: &mut Vec<ReplicaOut<S>>) {
        // Drained, not taken: the buffer is kept for the next deliveries.
        for (pos, cmd) in self.held.drain(..) {
            let mut effects = Vec::new();
            {
                let mut stored = self.store.lock().expect("store lock");
                stored.state.apply(&cmd, &mut effects);
                stored.pos = pos;
            }
            out.push(ReplicaOut::Applied { cmd, effects, pos });
        }
    }
}

/// The position of the last of `cmds`, or `Pos::default()` if there is none.
fn last_pos<C>(cmds: &[(Pos, C)]) -> Pos {
    cmds.last().map(|(p, _)| *p).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of numbers: its state shows exactly which commands were applied, in order.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Log(Vec<u64>);

    impl StateMachine for Log {
        type Command = u64;
        type Effect = u64;
        fn apply(&mut self, cmd: &u64, out: &mut Vec<u64>) {
            self.0.push(*cmd);
            out.push(*cmd);
        }
    }

    fn m(node: usize) -> Member {
        Member {
            node,
            inc: 0,
            job: 0,
            group: 0,
        }
    }

    /// A group of replicas fed the same deliveries, the way the engine would.
    struct Group {
        /// The engine's size; 1 unless a test is about the majority rule, so that any
        /// member set is on a majority.
        engine_nodes: usize,
        disk: ReplicaDisk<Log>,
        replicas: BTreeMap<Member, Replica<Log>>,
        view: u64,
        seq: u64,
        /// Multicasts not yet delivered, in submission order.
        queue: Vec<ReplicaMsg<Log>>,
    }

    impl Group {
        fn new() -> Self {
            Group {
                engine_nodes: 1,
                disk: ReplicaDisk::default(),
                replicas: BTreeMap::new(),
                view: 0,
                seq: 0,
                queue: Vec::new(),
            }
        }

        /// `n` members that just booted together, in their first view.
        fn booted(n: usize) -> Self {
            let mut g = Group::new();
            for node in 0..n {
                g.join(m(node));
            }
            let fresh: Vec<Member> = g.replicas.keys().copied().collect();
            g.install(&fresh);
            g
        }

        fn join(&mut self, member: Member) {
            let store = self.disk.open(member.node, &Log::default());
            self.replicas
                .insert(member, Replica::new(member, store, self.engine_nodes));
        }

        fn collect(&mut self, outs: Vec<ReplicaOut<Log>>) {
            for o in outs {
                if let ReplicaOut::Multicast(msg) = o {
                    self.queue.push(msg);
                }
            }
        }

        /// Installs a view of the current replicas; `fresh` are not continuous.
        fn install(&mut self, fresh: &[Member]) {
            self.view += 1;
            self.seq = 0;
            let members: BTreeSet<Member> = self.replicas.keys().copied().collect();
            let continuing: BTreeSet<Member> = members
                .iter()
                .filter(|m| !fresh.contains(m))
                .copied()
                .collect();
            let mut outs = Vec::new();
            for r in self.replicas.values_mut() {
                r.on_view(self.view, &members, &continuing, &mut outs);
            }
            self.collect(outs);
        }

        /// Delivers the oldest queued message to every replica.
        fn deliver_one(&mut self) {
            let msg = self.queue.remove(0);
            self.seq += 1;
            let pos = Pos {
                view: self.view,
                seq: self.seq,
            };
            let mut outs = Vec::new();
            for r in self.replicas.values_mut() {
                r.on_deliver(pos, msg.clone(), false, &mut outs);
            }
            self.collect(outs);
        }

        /// Delivers everything queued (and what that causes) to every replica.
        fn settle(&mut self) {
            while !self.queue.is_empty() {
                self.deliver_one();
            }
        }

        fn cmd(&mut self, c: u64) {
            self.queue.push(ReplicaMsg::Cmd(c));
        }

        /// The position the next delivery of the view takes.
        fn next_pos(&self) -> Pos {
            Pos {
                view: self.view,
                seq: self.seq + 1,
            }
        }

        /// Delivers command `c` to every replica in the flush that ends the view.
        fn flush_cmd(&mut self, c: u64) {
            let pos = self.next_pos();
            let mut outs = Vec::new();
            for r in self.replicas.values_mut() {
                r.on_deliver(pos, ReplicaMsg::Cmd(c), true, &mut outs);
            }
            self.collect(outs);
        }

        /// `member`'s node went on in a view the others never learnt of, applied command
        /// `c` there and crashed, so only its disk kept it; it restarts and joins again.
        fn restart_one_command_ahead(&mut self, member: Member, c: u64) -> Member {
            let old = self
                .replicas
                .remove(&member)
                .expect("a member of the group");
            {
                let mut stored = old.store.lock().expect("store lock");
                stored.state.0.push(c);
                stored.pos = Pos {
                    view: self.view + 1,
                    seq: 1,
                };
            }
            self.view += 1;
            let restarted = Member {
                inc: member.inc + 1,
                ..member
            };
            self.join(restarted);
            restarted
        }

        /// Command `c` is stable: m0 delivers it, applies it and may serve it; then its job
        /// dies, and the next views do not have node 0. m1 and m2 received it too, but lost
        /// quorum before they knew it was stable: they get it in the end of the lost view,
        /// at an install that does not count them as continuing (another member came from
        /// a newer view), beside a newcomer m3, and turn stale keeping it.
        fn stale_members_keep_what_a_dead_master_applied(&mut self, c: u64) {
            let pos = self.next_pos();
            let mut r0 = self.replicas.remove(&m(0)).expect("m0 is a member");
            r0.on_deliver(pos, ReplicaMsg::Cmd(c), false, &mut Vec::new());
            assert_eq!(
                r0.read(|s| s.0.last() == Some(&c)),
                Some(true),
                "m0 applied it"
            );
            drop(r0);
            for r in self.replicas.values_mut() {
                r.on_quorum_lost();
            }
            self.flush_cmd(c);
            self.join(m(3));
            self.install(&[m(1), m(2), m(3)]);
        }

        fn states(&self) -> Vec<Option<Vec<u64>>> {
            self.replicas
                .values()
                .map(|r| r.read(|s| s.0.clone()))
                .collect()
        }
    }

    #[test]
    fn commands_of_a_flush_apply_at_a_stable_delivery_of_the_next_view_not_at_its_install() {
        let mut g = Group::booted(3);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![]); 3]);
        // The view ends: its flush delivers command 9 to every member.
        g.flush_cmd(9);
        assert_eq!(g.states(), vec![Some(vec![]); 3], "a flush delivery waits");
        // All three continue into the next view. A node may yet refuse that install, so
        // installing applies nothing; the lowest member multicasts one barrier.
        g.install(&[]);
        assert_eq!(g.states(), vec![Some(vec![]); 3]);
        assert!(
            matches!(g.queue.as_slice(), [ReplicaMsg::Barrier { view: 2 }]),
            "{:?}",
            g.queue
        );
        // Its delivery, stable, shows every node installed the view: now 9 applies.
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![9]); 3]);
    }

    #[test]
    fn a_replica_that_lost_quorum_serves_nothing_then_goes_on_with_the_end_of_the_lost_view() {
        let mut g = Group::booted(3);
        g.cmd(1);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1]); 3]);
        // Everyone lost quorum before command 2 was known stable anywhere.
        for r in g.replicas.values_mut() {
            r.on_quorum_lost();
        }
        assert_eq!(g.states(), vec![None; 3], "out of the primary component");
        // The next primary view closes the lost one: its flush delivers command 2, and
        // all three continue from it.
        g.flush_cmd(2);
        g.install(&[]);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2]); 3]);
        // Lost again; this time one member is not counted as continuing: it catches up.
        for r in g.replicas.values_mut() {
            r.on_quorum_lost();
        }
        g.install(&[m(2)]);
        g.cmd(3);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2, 3]); 3]);
    }

    #[test]
    fn a_snapshot_that_arrives_in_the_end_of_a_lost_view_is_told_when_it_can_be_read() {
        let mut g = Group::booted(3);
        g.cmd(1);
        g.settle();
        // m3 joins and asks for state; m0 answers it with a snapshot.
        g.join(m(3));
        g.install(&[m(3)]);
        g.deliver_one();
        assert!(matches!(g.queue.as_slice(), [ReplicaMsg::Snapshot(_)]));
        // Everyone loses quorum before the snapshot is delivered; the next view's flush
        // delivers it, and m3 installs it while out of the primary component.
        for r in g.replicas.values_mut() {
            r.on_quorum_lost();
        }
        let snapshot = g.queue.remove(0);
        let pos = g.next_pos();
        let mut outs = Vec::new();
        let r3 = g.replicas.get_mut(&m(3)).unwrap();
        r3.on_deliver(pos, snapshot, true, &mut outs);
        let told = |outs: &[ReplicaOut<Log>]| {
            outs.iter()
                .filter(|o| matches!(o, ReplicaOut::Synced { .. }))
                .count()
        };
        assert_eq!(told(&outs), 0, "its state cannot be read yet");
        assert_eq!(r3.read(|s| s.0.clone()), None);
        // The next view counts everyone as continuing: now m3 can be read, and is told so
        // once; a later view tells nothing again.
        for view in [3, 4] {
            let members: BTreeSet<Member> = g.replicas.keys().copied().collect();
            let r3 = g.replicas.get_mut(&m(3)).unwrap();
            let mut outs = Vec::new();
            r3.on_view(view, &members, &members, &mut outs);
            assert_eq!(told(&outs), usize::from(view == 3), "view {view}");
            assert_eq!(r3.read(|s| s.0.clone()), Some(vec![1]));
        }
    }

    #[test]
    fn an_election_keeps_what_stale_members_received_of_a_view_whose_master_applied_it() {
        let mut g = Group::booted(3);
        g.cmd(1);
        g.settle();
        g.stale_members_keep_what_a_dead_master_applied(2);
        g.cmd(3);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2, 3]); 3]);
        // Once synced, nothing kept is left to count in a later election.
        assert!(g
            .replicas
            .values()
            .all(|r| r.store.lock().unwrap().kept.is_empty()));
    }

    #[test]
    fn what_stale_members_kept_outlives_their_jobs_and_an_election_still_keeps_it() {
        let mut g = Group::booted(3);
        g.cmd(1);
        g.settle();
        g.stale_members_keep_what_a_dead_master_applied(2);
        // Before their requests are delivered, the jobs of m1 and m2 die too; the next
        // incarnations start over their nodes' disks, and nobody is synced.
        g.queue.clear();
        for node in [1, 2] {
            g.replicas.remove(&m(node));
            g.join(Member { inc: 1, ..m(node) });
        }
        let fresh: Vec<Member> = g.replicas.keys().copied().collect();
        g.install(&fresh);
        g.cmd(3);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2, 3]); 3]);
    }

    #[test]
    fn what_a_stale_member_kept_beyond_the_synced_members_does_not_step_them_down() {
        let mut g = Group::booted(3);
        g.cmd(1);
        g.settle();
        // Only m2 received command 2 before it lost quorum: not stable, applied nowhere.
        let pos = g.next_pos();
        let r2 = g.replicas.get_mut(&m(2)).unwrap();
        r2.on_quorum_lost();
        r2.on_deliver(pos, ReplicaMsg::Cmd(2), true, &mut Vec::new());
        // m0 and m1 continue without it; m2 asks for state and gets theirs.
        g.install(&[m(2)]);
        g.cmd(3);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 3]); 3]);
    }

    #[test]
    fn synced_members_behind_a_restarted_members_disk_step_down_and_its_state_wins() {
        // Command 3 comes after the restarted node's request for state, or before it: a
        // command of the new view waiting on the synced members must not hide the disk.
        for cmd_first in [false, true] {
            let mut g = Group::booted(3);
            g.cmd(1);
            g.settle();
            // Node 0 went on in a view the others never learnt of, applied command 2
            // there, and crashed; only its disk kept it. Nodes 1 and 2 continue from the
            // older view.
            let restarted = g.restart_one_command_ahead(m(0), 2);
            g.install(&[restarted]);
            if cmd_first {
                g.queue.insert(0, ReplicaMsg::Cmd(3));
            } else {
                g.cmd(3);
            }
            g.settle();
            assert_eq!(
                g.states(),
                vec![Some(vec![1, 2, 3]); 3],
                "cmd_first={cmd_first}"
            );
        }
    }

    #[test]
    fn a_snapshot_made_before_its_maker_stepped_down_syncs_nobody() {
        // The answer arrives after or before the stepped-down members ask again.
        for answer_last in [false, true] {
            let mut g = Group::booted(3);
            g.cmd(1);
            g.settle();
            // As above, node 0 restarts from a disk that went one command further; a
            // newcomer m3 joins in the same view.
            let restarted = g.restart_one_command_ahead(m(0), 2);
            g.join(m(3));
            g.install(&[restarted, m(3)]);
            // m3's request comes first: m1 answers it with the state it holds. The
            // restarted node's request comes before that answer, and m1 and m2 step down.
            g.queue.reverse();
            g.deliver_one();
            g.deliver_one();
            assert!(g.replicas[&m(1)].read(|_| ()).is_none(), "m1 stepped down");
            if answer_last {
                let answer = g.queue.remove(0);
                assert!(matches!(answer, ReplicaMsg::Snapshot(_)));
                g.queue.push(answer);
            }
            // The answer, made by a member that is no longer synced, must not leave m3
            // with a state the view gave up.
            g.cmd(3);
            g.settle();
            assert_eq!(
                g.states(),
                vec![Some(vec![1, 2, 3]); 4],
                "answer_last={answer_last}"
            );
        }
    }

    /// Five engine nodes, replicas on three. Node 2's job dies: the view that follows has
    /// members on two nodes, a minority, and a command delivered there waits; it applies
    /// when node 2's next job has caught up, on three disks again.
    #[test]
    fn commands_wait_while_the_members_are_on_a_minority_of_nodes() {
        let mut g = Group {
            engine_nodes: 5,
            ..Group::new()
        };
        for node in 0..3 {
            g.join(m(node));
        }
        g.install(&[m(0), m(1), m(2)]);
        g.cmd(1);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1]); 3]);
        g.replicas.remove(&m(2));
        g.install(&[]);
        g.cmd(2);
        g.settle();
        assert_eq!(
            g.states(),
            vec![Some(vec![1]); 2],
            "on two of five disks, nothing applies"
        );
        let again = Member { inc: 1, ..m(2) };
        g.join(again);
        g.install(&[again]);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2]); 3]);
    }

    /// Members on two of five nodes elect nothing: the last command applied may be on
    /// none of their disks. A third member makes the majority, and the election.
    #[test]
    fn an_election_waits_for_members_on_a_majority_of_nodes() {
        let mut g = Group {
            engine_nodes: 5,
            ..Group::new()
        };
        g.join(m(0));
        g.join(m(1));
        g.install(&[m(0), m(1)]);
        g.settle();
        assert_eq!(g.states(), vec![None; 2]);
        g.join(m(2));
        g.install(&[m(0), m(1), m(2)]);
        g.cmd(5);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![5]); 3]);
    }

    #[test]
    fn a_first_boot_elects_one_state_and_everyone_syncs() {
        let mut g = Group::booted(3);
        g.cmd(7); // delivered before anyone is synced: applied on top of the elected state
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![7]); 3]);
        g.cmd(8);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![7, 8]); 3]);
    }

    #[test]
    fn a_joiner_catches_up_from_the_lowest_synced_member_and_replays_what_followed() {
        let mut g = Group::booted(3);
        g.settle();
        for c in 1..=3 {
            g.cmd(c);
        }
        g.settle();
        g.join(m(3));
        g.install(&[m(3)]);
        // Commands race with the joiner's request: some land before it, some after.
        g.cmd(4);
        g.settle();
        g.cmd(5);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2, 3, 4, 5]); 4]);
        let snapshots_from: Vec<Member> = g
            .replicas
            .iter()
            .filter(|(_, r)| r.synced_members().len() == 4)
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(
            snapshots_from.len(),
            4,
            "everyone knows all four are synced"
        );
    }

    #[test]
    fn after_every_holder_restarts_the_most_advanced_stored_state_wins() {
        let mut g = Group::booted(3);
        g.settle();
        g.cmd(1);
        g.cmd(2);
        g.settle();
        // Node 2 stops applying (it crashed) while the others apply one more command.
        let r2 = g.replicas.remove(&m(2)).unwrap();
        g.install(&[]);
        g.cmd(3);
        g.settle();
        // Everyone restarts: new incarnations over the same stored states.
        g.replicas.clear();
        drop(r2);
        for n in 0..3 {
            let mut member = m(n);
            member.inc = 1;
            g.join(member);
        }
        let fresh: Vec<Member> = g.replicas.keys().copied().collect();
        g.install(&fresh);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![1, 2, 3]); 3]);
    }

    #[test]
    fn a_stale_replica_serves_nothing_and_a_snapshot_from_another_view_is_ignored() {
        let mut g = Group::new();
        for n in 0..2 {
            g.join(m(n));
        }
        let fresh: Vec<Member> = g.replicas.keys().copied().collect();
        g.install(&fresh);
        g.settle();
        g.join(m(2));
        g.install(&[m(2)]);
        // Its request and the answer are still queued when the view changes again.
        assert!(g.replicas[&m(2)].read(|_| ()).is_none());
        let stale_answer = std::mem::take(&mut g.queue);
        g.install(&[m(2)]);
        g.queue.splice(0..0, stale_answer);
        g.cmd(9);
        g.settle();
        assert_eq!(g.states(), vec![Some(vec![9]); 3]);
    }

    #[test]
    fn nothing_applies_while_a_member_lacks_the_state_so_a_lone_holder_loses_nothing() {
        let mut g = Group::new();
        g.join(m(1));
        g.install(&[m(1)]);
        g.cmd(1);
        g.settle();
        g.join(m(2));
        g.join(m(3));
        g.install(&[m(2), m(3)]);
        g.cmd(2);
        // Both requests for state, then the command: m1 answers both, but m1 crashes
        // before its answers are delivered.
        g.deliver_one();
        g.deliver_one();
        g.queue.retain(|msg| matches!(msg, ReplicaMsg::Cmd(_)));
        g.deliver_one();
        let lone = g.replicas.remove(&m(1)).unwrap();
        assert_eq!(
            lone.read_stored(|s| s.0.clone()),
            vec![1],
            "the lone holder applied nothing of the view"
        );
        // The survivors, still without the state, elect the most advanced stored one.
        g.install(&[]);
        g.cmd(3);
        g.settle();
        let states = g.states();
        assert_eq!(states[0], states[1]);
        assert_eq!(states[0], Some(vec![3]), "only what the new view applied");
    }
}
