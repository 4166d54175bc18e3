//! Readers of two history formats: Jepsen's log lines (a compare-and-set register, as in
//! Jepsen's etcd test) and EDN-like maps, one per line (a key-value store). Instants are
//! line numbers: these files carry no times, only the order in which things were seen.
//!
//! Both follow Jepsen's conventions: a process has at most one operation outstanding; an
//! `:invoke` opens it, and `:ok` (it took effect), `:fail` (it did not) or `:info` (unknown)
//! closes it; an operation still open at the end has an unknown outcome too.

use super::models::{CasInput, CasOutput, KvInput, KvOutput};
use super::{Clock, Completion, History, Operation};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Malformed input, with the file and line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based; `None` for an error about the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// How an operation was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl Kind {
    fn parse(keyword: &str) -> Option<Kind> {
        Some(match keyword {
            ":invoke" => Kind::Invoke,
            ":ok" => Kind::Ok,
            ":fail" => Kind::Fail,
            ":info" => Kind::Info,
            _ => return None,
        })
    }
}

/// The operations of a file being read: one slot per invocation (emptied when the
/// operation turns out never to have happened), and each process's open operation.
struct Builder<'a, I, O> {
    file: &'a str,
    ops: Vec<Option<Operation<I, O>>>,
    /// Process -> (its open operation's slot, the line it was invoked on, its function).
    open: BTreeMap<u64, (usize, usize, String)>,
}

impl<'a, I, O> Builder<'a, I, O> {
    fn new(file: &'a str) -> Self {
        Builder {
            file,
            ops: Vec::new(),
            open: BTreeMap::new(),
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn invoke(&mut self, line: usize, process: u64, f: &str, input: I) -> Result<(), ParseError> {
        if let Some((_, at, g)) = self.open.get(&process) {
            return Err(self.error(
                line,
                format!("process {process} invokes {f} while its {g} of line {at} is still open"),
            ));
        }
        self.open
            .insert(process, (self.ops.len(), line, f.to_string()));
        self.ops.push(Some(Operation {
            client: process,
            invoked: line as u64,
            input,
            completed: None,
        }));
        Ok(())
    }

    /// Closes `process`'s open operation, which must be a `f`: returns its slot.
    fn close(&mut self, line: usize, process: u64, f: &str) -> Result<usize, ParseError> {
        let Some((slot, at, g)) = self.open.remove(&process) else {
            return Err(self.error(
                line,
                format!("process {process} completes a {f} it has not invoked"),
            ));
        };
        if g != f {
            return Err(self.error(
                line,
                format!("process {process} completes {f}, but invoked {g} on line {at}"),
            ));
        }
        Ok(slot)
    }

    fn input(&self, slot: usize) -> &I {
        &self.ops[slot].as_ref().expect("an open slot").input
    }

    fn finish(self, format: &str) -> Result<History<I, O>, ParseError> {
        if self.ops.is_empty() {
            return Err(ParseError {
                file: self.file.to_string(),
                line: None,
                message: format!("no operations found (expected {format})"),
            });
        }
        Ok(History {
            clock: Clock::LogLine,
            ops: self.ops.into_iter().flatten().collect(),
        })
    }
}

/// Splits off the first whitespace-separated word.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

const JEPSEN_FORM: &str = "Jepsen log lines `jepsen.util - PROCESS :TYPE :F VALUE`";

/// Reads a Jepsen log of a compare-and-set register (Jepsen's etcd test): the lines
/// `... jepsen.util - PROCESS TYPE F VALUE` with F `:read`, `:write` or `:cas` (VALUE
/// `[FROM TO]`). Other lines (Jepsen's own messages, the nemesis) are skipped.
///
/// A `:fail :cas` says the register did not hold FROM. An `:info`, a `:fail :read` (a
/// timed-out read) and an operation still open at the end have an unknown outcome. A
/// `:fail :write` never happened and is left out.
pub fn parse_jepsen_cas(
    file: &str,
    text: &str,
) -> Result<History<CasInput, CasOutput>, ParseError> {
    let mut b: Builder<CasInput, CasOutput> = Builder::new(file);
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(at) = line.find("jepsen.util") else {
            continue;
        };
        let Some(rest) = line[at + "jepsen.util".len()..]
            .trim_start()
            .strip_prefix('-')
        else {
            continue;
        };
        // An operation line starts with a numbered process and a `:type`; anything else
        // is one of Jepsen's messages.
        let Some((process, rest)) = word(rest) else {
            continue;
        };
        let Ok(process) = process.parse::<u64>() else {
            continue;
        };
        let Some((kind, rest)) = word(rest) else {
            continue;
        };
        if !kind.starts_with(':') {
            continue;
        }
        let kind = Kind::parse(kind).ok_or_else(|| {
            b.error(
                line_no,
                format!("unknown operation type {kind} (expected :invoke, :ok, :fail or :info)"),
            )
        })?;
        let (f, value) =
            word(rest).ok_or_else(|| b.error(line_no, "no function after the type"))?;
        let value = value.trim();
        if !matches!(f, ":read" | ":write" | ":cas") {
            return Err(b.error(
                line_no,
                format!("unknown function {f} (a cas register has :read, :write and :cas)"),
            ));
        }
        match kind {
            Kind::Invoke => {
                let input = match f {
                    ":read" => {
                        register_value(value).map_err(|m| b.error(line_no, m))?;
                        CasInput::Read
                    }
                    ":write" => CasInput::Write(integer(value).map_err(|m| b.error(line_no, m))?),
                    _ => {
                        let (from, to) = cas_pair(value).map_err(|m| b.error(line_no, m))?;
                        CasInput::Cas { from, to }
                    }
                };
                b.invoke(line_no, process, f, input)?;
            }
            Kind::Info => {
                // The outcome is unknown: the operation stays as invoked.
                b.close(line_no, process, f)?;
            }
            Kind::Ok | Kind::Fail => {
                let slot = b.close(line_no, process, f)?;
                let output = match (b.input(slot).clone(), kind) {
                    (CasInput::Read, Kind::Ok) => Some(CasOutput::Read(
                        register_value(value).map_err(|m| b.error(line_no, m))?,
                    )),
                    // A failed read (Jepsen's `:fail :read :timed-out`): unknown outcome,
                    // which for a read is the same as never having happened.
                    (CasInput::Read, _) => None,
                    (CasInput::Write(v), kind) => {
                        let w = integer(value).map_err(|m| b.error(line_no, m))?;
                        if w != v {
                            return Err(b.error(
                                line_no,
                                format!("the completion's value {w} is not the invocation's {v}"),
                            ));
                        }
                        if kind == Kind::Fail {
                            b.ops[slot] = None;
                            continue;
                        }
                        Some(CasOutput::Ok)
                    }
                    (CasInput::Cas { from, to }, kind) => {
                        let got = cas_pair(value).map_err(|m| b.error(line_no, m))?;
                        if got != (from, to) {
                            return Err(b.error(
                                line_no,
                                format!(
                                    "the completion's [{} {}] is not the invocation's [{from} {to}]",
                                    got.0, got.1
                                ),
                            ));
                        }
                        Some(if kind == Kind::Ok {
                            CasOutput::Ok
                        } else {
                            CasOutput::Failed
                        })
                    }
                };
                if let Some(output) = output {
                    let op = b.ops[slot].as_mut().expect("an open slot");
                    op.completed = Some(Completion {
                        at: line_no as u64,
                        output,
                    });
                }
            }
        }
    }
    b.finish(JEPSEN_FORM)
}

fn integer(s: &str) -> Result<i64, String> {
    s.parse()
        .map_err(|_| format!("expected an integer value, not '{s}'"))
}

/// `nil` or an integer.
fn register_value(s: &str) -> Result<Option<i64>, String> {
    if s == "nil" {
        Ok(None)
    } else {
        s.parse()
            .map(Some)
            .map_err(|_| format!("expected nil or an integer, not '{s}'"))
    }
}

/// `[FROM TO]`.
fn cas_pair(s: &str) -> Result<(i64, i64), String> {
    let bad = || format!("expected [FROM TO] with two integers, not '{s}'");
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(bad)?;
    let mut it = inner.split_whitespace().map(str::parse::<i64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b)), None) => Ok((a, b)),
        _ => Err(bad()),
    }
}

const KV_FORM: &str =
    "one map a line: {:process P, :type :invoke|:ok|:fail|:info, :f :get|:put|:append, :key \"K\", :value \"V\"}";

/// Reads a key-value history: one EDN map a line,
/// `{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value "V"}` (`:value
/// nil` on a get's invocation). Blank lines are skipped, keys other than these five are
/// ignored.
///
/// A get that returns `nil` read the empty string, as a key never written does. An
/// `:info` and an operation still open at the end have an unknown outcome; a `:fail`
/// never happened and is left out.
pub fn parse_kv(file: &str, text: &str) -> Result<History<KvInput, KvOutput>, ParseError> {
    let mut b: Builder<KvInput, KvOutput> = Builder::new(file);
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let m = KvLine::parse(line).map_err(|m| b.error(line_no, m))?;
        let value = |what: &str| {
            m.value
                .clone()
                .ok_or_else(|| b.error(line_no, format!("{} needs a string :value", what)))
        };
        match m.kind {
            Kind::Invoke => {
                let input = match m.f.as_str() {
                    ":get" => KvInput::Get {
                        key: m.key.as_str().into(),
                    },
                    ":put" => KvInput::Put {
                        key: m.key.as_str().into(),
                        value: value("a :put")?.into(),
                    },
                    _ => KvInput::Append {
                        key: m.key.as_str().into(),
                        value: value("an :append")?.into(),
                    },
                };
                b.invoke(line_no, m.process, &m.f, input)?;
            }
            Kind::Info => {
                b.close(line_no, m.process, &m.f)?;
            }
            Kind::Fail => {
                let slot = b.close(line_no, m.process, &m.f)?;
                b.ops[slot] = None;
            }
            Kind::Ok => {
                let slot = b.close(line_no, m.process, &m.f)?;
                let input = b.input(slot);
                if input.key() != m.key {
                    return Err(b.error(
                        line_no,
                        format!(
                            "the completion's key {:?} is not the invocation's {:?}",
                            m.key,
                            input.key()
                        ),
                    ));
                }
                let output = match input {
                    KvInput::Get { .. } => {
                        KvOutput::Value(m.value.as_deref().unwrap_or_default().into())
                    }
                    KvInput::Put { value: v, .. } | KvInput::Append { value: v, .. } => {
                        if m.value.as_deref() != Some(&**v) {
                            return Err(b.error(
                                line_no,
                                format!(
                                    "the completion's value {} is not the invocation's {v:?}",
                                    m.value
                                        .as_ref()
                                        .map_or("nil".to_string(), |w| format!("{w:?}"))
                                ),
                            ));
                        }
                        KvOutput::Ok
                    }
                    KvInput::Cas { .. } => unreachable!("the kv format has no compare-and-set"),
                };
                b.ops[slot].as_mut().expect("an open slot").completed = Some(Completion {
                    at: line_no as u64,
                    output,
                });
            }
        }
    }
    b.finish(KV_FORM)
}

/// The fields of one line of a key-value history.
struct KvLine {
    process: u64,
    kind: Kind,
    f: String,
    key: String,
    value: Option<String>,
}

impl KvLine {
    fn parse(line: &str) -> Result<KvLine, String> {
        let mut p = Edn {
            s: line.trim(),
            i: 0,
        };
        let map = p.map()?;
        p.skip_blank();
        if p.i < p.s.len() {
            return Err(format!("unexpected text after the map: '{}'", &p.s[p.i..]));
        }
        let get = |k: &str| map.iter().find(|(key, _)| *key == k).map(|(_, v)| v);
        let need = |k: &str| get(k).ok_or_else(|| format!("the map has no {k}"));
        let process = match need(":process")? {
            EdnValue::Int(n) if *n >= 0 => *n as u64,
            v => return Err(format!(":process must be a number, not {v}")),
        };
        let kind = match need(":type")? {
            EdnValue::Keyword(k) => Kind::parse(k).ok_or_else(|| {
                format!("unknown :type {k} (expected :invoke, :ok, :fail or :info)")
            })?,
            v => return Err(format!(":type must be a keyword, not {v}")),
        };
        let f = match need(":f")? {
            EdnValue::Keyword(k) if matches!(*k, ":get" | ":put" | ":append") => k.to_string(),
            v => return Err(format!("unknown :f {v} (expected :get, :put or :append)")),
        };
        let key = match need(":key")? {
            EdnValue::Str(s) => s.to_string(),
            EdnValue::Int(n) => n.to_string(),
            v => return Err(format!(":key must be a string, not {v}")),
        };
        let value = match get(":value") {
            None | Some(EdnValue::Nil) => None,
            Some(EdnValue::Str(s)) => Some(s.to_string()),
            Some(v) => return Err(format!(":value must be a string or nil, not {v}")),
        };
        Ok(KvLine {
            process,
            kind,
            f,
            key,
            value,
        })
    }
}

/// The EDN values a history line may hold.
#[derive(Debug, PartialEq)]
enum EdnValue<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    Keyword(&'a str),
    /// A vector, list or nested map: read so that the line parses, not kept.
    Collection,
}

impl fmt::Display for EdnValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdnValue::Nil => f.write_str("nil"),
            EdnValue::Bool(b) => write!(f, "{b}"),
            EdnValue::Int(n) => write!(f, "{n}"),
            EdnValue::Str(s) => write!(f, "{s:?}"),
            EdnValue::Keyword(k) => f.write_str(k),
            EdnValue::Collection => f.write_str("a collection"),
        }
    }
}

/// A reader of the EDN subset history lines use: maps, vectors, lists, strings, keywords,
/// integers, `nil`, `true`, `false`. Commas are whitespace, as in EDN.
struct Edn<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Edn<'a> {
    fn skip_blank(&mut self) {
        let rest = &self.s[self.i..];
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        self.i += rest.len() - trimmed.len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_blank();
        self.s[self.i..].chars().next()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.peek() {
            Some(d) if d == c => {
                self.i += c.len_utf8();
                Ok(())
            }
            Some(d) => Err(format!(
                "expected '{c}' at column {}, found '{d}'",
                self.i + 1
            )),
            None => Err(format!(
                "expected '{c}' at column {}, found the line's end",
                self.i + 1
            )),
        }
    }

    /// A map with keyword keys, as (key, value) pairs.
    fn map(&mut self) -> Result<Vec<(&'a str, EdnValue<'a>)>, String> {
        self.skip_blank();
        let open = self.i + 1;
        self.expect('{')?;
        let mut pairs: Vec<(&'a str, EdnValue<'a>)> = Vec::new();
        loop {
            match self.peek() {
                Some('}') => {
                    self.i += 1;
                    return Ok(pairs);
                }
                None => return Err(format!("the map opened at column {open} is not closed")),
                Some(_) => {}
            }
            let col = self.i + 1;
            let key = match self.value()? {
                EdnValue::Keyword(k) => k,
                v => {
                    return Err(format!(
                        "a map key must be a keyword, not {v} (column {col})"
                    ))
                }
            };
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(format!("the map has {key} twice"));
            }
            if matches!(self.peek(), Some('}') | None) {
                return Err(format!("{key} has no value"));
            }
            let v = self.value()?;
            pairs.push((key, v));
        }
    }

    fn value(&mut self) -> Result<EdnValue<'a>, String> {
        self.skip_blank();
        let col = self.i + 1;
        match self.peek() {
            None => Err(format!(
                "expected a value at column {col}, found the line's end"
            )),
            Some('"') => self.string().map(EdnValue::Str),
            Some('{') => self.map().map(|_| EdnValue::Collection),
            Some(open @ ('[' | '(')) => {
                let close = if open == '[' { ']' } else { ')' };
                self.i += 1;
                while self.peek() != Some(close) {
                    self.value()?;
                }
                self.i += 1;
                Ok(EdnValue::Collection)
            }
            Some(_) => {
                let rest = &self.s[self.i..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || ",{}[]()\"".contains(c))
                    .unwrap_or(rest.len());
                let token = &rest[..end];
                if token.is_empty() {
                    return Err(format!(
                        "unexpected '{}' at column {col}",
                        rest.chars().next().unwrap_or(' ')
                    ));
                }
                self.i += end;
                Ok(match token {
                    "nil" => EdnValue::Nil,
                    "true" => EdnValue::Bool(true),
                    "false" => EdnValue::Bool(false),
                    t if t.starts_with(':') && t.len() > 1 => EdnValue::Keyword(t),
                    t => EdnValue::Int(
                        t.parse()
                            .map_err(|_| format!("unreadable value '{t}' at column {col}"))?,
                    ),
                })
            }
        }
    }

    /// A string with EDN's escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        let col = self.i + 1;
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let s: &'a str = self.s;
            let rest = &s[self.i..];
            let Some(at) = rest.find(['"', '\\']) else {
                return Err(format!("the string opened at column {col} is not closed"));
            };
            self.i += at + 1;
            if rest.as_bytes()[at] == b'"' {
                // Most strings have no escape: no copy.
                if out.is_empty() {
                    return Ok(Cow::Borrowed(&rest[..at]));
                }
                out.push_str(&rest[..at]);
                return Ok(Cow::Owned(out));
            }
            out.push_str(&rest[..at]);
            let escaped = self.s[self.i..].chars().next();
            match escaped {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(e) => return Err(format!("unknown escape '\\{e}' in a string")),
                None => return Err(format!("the string opened at column {col} is not closed")),
            }
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jepsen(lines: &[&str]) -> Result<History<CasInput, CasOutput>, String> {
        let text: String = lines
            .iter()
            .map(|l| format!("INFO  jepsen.util - {}\n", l.replace(' ', "\t")))
            .collect();
        parse_jepsen_cas("t.log", &text).map_err(|e| e.to_string())
    }

    #[test]
    fn jepsen_lines_become_operations() {
        let text = "INFO  jepsen.core - Running test\n\
                    INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 1\t:invoke\t:cas\t[3 0]\n\
                    INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
                    INFO  jepsen.util - 0\t:ok\t:read\t3\n\
                    INFO  jepsen.util - 1\t:fail\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 2\t:invoke\t:write\t4\n\
                    INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n\
                    INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n\
                    INFO  jepsen.util - 3\t:invoke\t:write\t5\n\
                    INFO  jepsen.util - 3\t:fail\t:write\t5\n\
                    INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2]\n";
        let h = parse_jepsen_cas("t.log", text).unwrap();
        assert_eq!(h.clock, Clock::LogLine);
        let done = |at, output| Some(Completion { at, output });
        let op = |client, invoked, input, completed| Operation {
            client,
            invoked,
            input,
            completed,
        };
        assert_eq!(
            h.ops,
            vec![
                op(0, 2, CasInput::Read, done(5, CasOutput::Read(Some(3)))),
                op(
                    1,
                    3,
                    CasInput::Cas { from: 3, to: 0 },
                    done(6, CasOutput::Failed)
                ),
                op(2, 7, CasInput::Write(4), None),
                op(0, 9, CasInput::Read, None),
                // The failed write never happened.
                op(4, 13, CasInput::Cas { from: 1, to: 2 }, None),
            ]
        );
    }

    #[test]
    fn malformed_jepsen_lines_are_named_by_file_and_line() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["0 :ok :read nil"],
                "t.log:1: process 0 completes a :read it has not invoked",
            ),
            (
                &["0 :invoke :read nil", "0 :invoke :write 1"],
                "t.log:2: process 0 invokes :write while its :read of line 1 is still open",
            ),
            (
                &["0 :invoke :read nil", "0 :ok :write 1"],
                "t.log:2: process 0 completes :write, but invoked :read on line 1",
            ),
            (
                &["0 :invoke :read nil", "0 :ok :read banana"],
                "t.log:2: expected nil or an integer, not 'banana'",
            ),
            (
                &["0 :invoke :write x"],
                "t.log:1: expected an integer value, not 'x'",
            ),
            (
                &["0 :invoke :cas [1]"],
                "t.log:1: expected [FROM TO] with two integers, not '[1]'",
            ),
            (
                &["0 :invoke :cas [1 2]", "0 :ok :cas [1 3]"],
                "t.log:2: the completion's [1 3] is not the invocation's [1 2]",
            ),
            (
                &["0 :invoke :write 1", "0 :ok :write 2"],
                "t.log:2: the completion's value 2 is not the invocation's 1",
            ),
            (
                &["0 :invoke :delete 1"],
                "t.log:1: unknown function :delete (a cas register has :read, :write and :cas)",
            ),
            (
                &["0 :done :read nil"],
                "t.log:1: unknown operation type :done (expected :invoke, :ok, :fail or :info)",
            ),
            (&["0 :invoke"], "t.log:1: no function after the type"),
        ];
        for (lines, want) in cases {
            assert_eq!(jepsen(lines).unwrap_err(), *want, "{lines:?}");
        }
        let e = parse_jepsen_cas("t.log", "hello\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.log: no operations found (expected Jepsen"),
            "{e}"
        );
    }

    #[test]
    fn kv_lines_become_operations() {
        let text = r#"{:process 0, :type :invoke, :f :get, :key "a", :value nil}
{:process 1, :type :invoke, :f :append, :key "a", :value "x \"1\" y", :time 17}

{:process 0, :type :ok, :f :get, :key "a", :value nil}
{:process 1, :type :ok, :f :append, :key "a", :value "x \"1\" y"}
{:process 2, :type :invoke, :f :put, :key "b", :value "v"}
{:process 3, :type :invoke, :f :put, :key "b", :value "w"}
{:process 2, :type :info, :f :put, :key "b", :value "v"}
{:process 3, :type :fail, :f :put, :key "b", :value "w"}
"#;
        let h = parse_kv("t.txt", text).unwrap();
        let get = KvInput::Get { key: "a".into() };
        let append = KvInput::Append {
            key: "a".into(),
            value: "x \"1\" y".into(),
        };
        let put = KvInput::Put {
            key: "b".into(),
            value: "v".into(),
        };
        let ops: Vec<_> = h
            .ops
            .iter()
            .map(|o| (o.client, o.invoked, o.input.clone(), o.completed.clone()))
            .collect();
        let done = |at, output| Some(Completion { at, output });
        assert_eq!(
            ops,
            vec![
                (0, 1, get, done(4, KvOutput::Value("".into()))),
                (1, 2, append, done(5, KvOutput::Ok)),
                (2, 6, put, None),
            ]
        );
    }

    #[test]
    fn malformed_kv_lines_are_named_by_file_and_line() {
        let inv = r#"{:process 0, :type :invoke, :f :get, :key "a", :value nil}"#;
        let cases = [
            (
                r#"{:process 0, :type :invoke, :f :get, :key "a""#,
                "t.txt:1: the map opened at column 1 is not closed",
            ),
            (
                r#"(:process 0)"#,
                "t.txt:1: expected '{' at column 1, found '('",
            ),
            (
                r#"{:process 0, :type :invoke, :f :get}"#,
                "t.txt:1: the map has no :key",
            ),
            (
                r#"{:process -1, :type :invoke, :f :get, :key "a"}"#,
                "t.txt:1: :process must be a number, not -1",
            ),
            (
                r#"{:process 0, :type :go, :f :get, :key "a"}"#,
                "t.txt:1: unknown :type :go (expected :invoke, :ok, :fail or :info)",
            ),
            (
                r#"{:process 0, :type :invoke, :f :cas, :key "a"}"#,
                "t.txt:1: unknown :f :cas (expected :get, :put or :append)",
            ),
            (
                r#"{:process 0, :type :invoke, :f :get, :key "a} "#,
                "t.txt:1: the string opened at column 43 is not closed",
            ),
            (
                r#"{:process 0, :process 1}"#,
                "t.txt:1: the map has :process twice",
            ),
            (
                r#"{:process 0, :type :invoke, :f :get, :key "a"} x"#,
                "t.txt:1: unexpected text after the map: 'x'",
            ),
            (
                r#"{:process 0, :type :invoke, :f :put, :key "a", :value nil}"#,
                "t.txt:1: a :put needs a string :value",
            ),
            (
                r#"{:process 0, :type :invoke, :f :get, :key "a", :value 1.5}"#,
                "t.txt:1: unreadable value '1.5' at column 55",
            ),
            (
                r#"{"process" 0}"#,
                "t.txt:1: a map key must be a keyword, not \"process\" (column 2)",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_kv("t.txt", line).unwrap_err().to_string(),
                want,
                "{line}"
            );
        }
        let text = format!(
            "{inv}\n{}\n",
            inv.replace("invoke", "ok").replace("\"a\"", "\"b\"")
        );
        assert_eq!(
            parse_kv("t.txt", &text).unwrap_err().to_string(),
            "t.txt:2: the completion's key \"b\" is not the invocation's \"a\""
        );
        let e = parse_kv("t.txt", "\n\n").unwrap_err().to_string();
        assert!(e.starts_with("t.txt: no operations found"), "{e}");
    }
}
