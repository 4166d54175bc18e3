//! The message catalog: codes, severities and templates kept as data
//! (`protocols/data/messages.tsv`), and the formatting of a coded message with its
//! parameters into the string a client reads.
//!
//! Formatting never panics: an unknown code or a missing parameter is a [`FormatError`],
//! and [`MessageCatalog::format_or_fallback`] turns it into a text that says what is
//! wrong, so a client still learns that something happened.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// How serious a message is; `Question` marks a dialogue inquiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Question,
}

impl Severity {
    fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            "question" => Some(Severity::Question),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Question => "question",
        }
    }
}

/// One template piece: literal text or a parameter name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Param(String),
}

/// A catalog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub code: String,
    pub severity: Severity,
    pub template: String,
    pieces: Vec<Piece>,
}

impl Entry {
    /// The parameter names the template uses, in order of first use.
    pub fn params(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.pieces {
            if let Piece::Param(name) = p {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }
}

/// Why a message could not be formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    UnknownCode(String),
    MissingParameter { code: String, name: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::UnknownCode(code) => write!(f, "unknown message code {code}"),
            FormatError::MissingParameter { code, name } => {
                write!(f, "message {code} is missing parameter '{name}'")
            }
        }
    }
}

/// The catalog: code -> entry.
#[derive(Clone, Debug, Default)]
pub struct MessageCatalog {
    entries: BTreeMap<String, Entry>,
}

impl MessageCatalog {
    /// The catalog shipped in `protocols/data/messages.tsv`.
    pub fn builtin() -> &'static MessageCatalog {
        static CATALOG: OnceLock<MessageCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            MessageCatalog::parse(include_str!("../../data/messages.tsv"))
                .expect("the shipped catalog parses (a unit test checks it)")
        })
    }

    /// Parses the tab-separated catalog format; errors name the line.
    pub fn parse(text: &str) -> Result<MessageCatalog, String> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.splitn(3, '\t').collect();
            let [code, severity, template] = cols[..] else {
                return Err(format!(
                    "catalog line {line_no}: expected code<TAB>severity<TAB>template"
                ));
            };
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("catalog line {line_no}: bad code '{code}'"));
            }
            let severity = Severity::parse(severity)
                .ok_or_else(|| format!("catalog line {line_no}: unknown severity '{severity}'"))?;
            let pieces =
                parse_template(template).map_err(|e| format!("catalog line {line_no}: {e}"))?;
            let entry = Entry {
                code: code.to_string(),
                severity,
                template: template.to_string(),
                pieces,
            };
            if entries.insert(code.to_string(), entry).is_some() {
                return Err(format!("catalog line {line_no}: code {code} defined twice"));
            }
        }
        Ok(MessageCatalog { entries })
    }

    pub fn get(&self, code: &str) -> Option<&Entry> {
        self.entries.get(code)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Formats `code` with `params`; parameters the template does not use are ignored.
    pub fn format(
        &self,
        code: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, FormatError> {
        let entry = self
            .entries
            .get(code)
            .ok_or_else(|| FormatError::UnknownCode(code.to_string()))?;
        // `CODE text`, written in one buffer: the text is made for every stored message.
        let mut out = String::with_capacity(code.len() + 1 + entry.template.len() + 16);
        out.push_str(code);
        out.push(' ');
        for p in &entry.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Param(name) => match params.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(FormatError::MissingParameter {
                            code: code.to_string(),
                            name: name.clone(),
                        })
                    }
                },
            }
        }
        Ok(out)
    }

    /// Formats, or explains why it could not, keeping the code and the raw parameters so
    /// that nothing the event said is lost.
    pub fn format_or_fallback(&self, code: &str, params: &BTreeMap<String, String>) -> String {
        match self.format(code, params) {
            Ok(s) => s,
            Err(e) => {
                let raw: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{code} [unformatted: {e}] {}", raw.join(" "))
                    .trim_end()
                    .to_string()
            }
        }
    }
}

fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        Some(c) => return Err(format!("bad character '{c}' in a parameter name")),
                        None => return Err("unclosed '{' in template".to_string()),
                    }
                }
                if name.is_empty() {
                    return Err("empty parameter name '{}'".to_string());
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Param(name));
            }
            '}' => return Err("unmatched '}' in template (write '}}')".to_string()),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// An event's parameters, by name. Shared, not copied: an event's parameters are set once,
/// where it is raised, and travel with it into the replicated command, every replica's
/// stored message and the client's copy.
pub type Params = Arc<BTreeMap<String, String>>;

/// Builds a parameter map from pairs.
pub fn params<const N: usize>(pairs: [(&str, &str); N]) -> Params {
    Arc::new(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses_and_has_the_documented_codes() {
        let c = MessageCatalog::builtin();
        assert!(c.len() >= 10);
        let e = c.get("CLU0102").unwrap();
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.params(), vec!["job", "node", "timeout_ms"]);
        assert_eq!(c.get("CLU0201").unwrap().severity, Severity::Question);
    }

    #[test]
    fn formats_with_parameter_substitution() {
        let c = MessageCatalog::builtin();
        let p = params([("job", "etl"), ("node", "n3"), ("timeout_ms", "500")]);
        assert_eq!(
            c.format("CLU0102", &p).unwrap(),
            "CLU0102 Job etl lost contact with node n3 after 500 ms"
        );
    }

    #[test]
    fn an_unknown_code_is_an_error_and_a_readable_fallback() {
        let c = MessageCatalog::builtin();
        let p = params([("x", "1")]);
        assert_eq!(
            c.format("CLU4242", &p),
            Err(FormatError::UnknownCode("CLU4242".into()))
        );
        assert_eq!(
            c.format_or_fallback("CLU4242", &p),
            "CLU4242 [unformatted: unknown message code CLU4242] x=1"
        );
    }

    #[test]
    fn a_missing_parameter_is_an_error_and_a_readable_fallback() {
        let c = MessageCatalog::builtin();
        let p = params([("job", "etl"), ("node", "n3")]);
        assert_eq!(
            c.format("CLU0102", &p),
            Err(FormatError::MissingParameter {
                code: "CLU0102".into(),
                name: "timeout_ms".into()
            })
        );
        assert_eq!(
            c.format_or_fallback("CLU0102", &p),
            "CLU0102 [unformatted: message CLU0102 is missing parameter 'timeout_ms'] job=etl node=n3"
        );
    }

    #[test]
    fn literal_braces_and_bad_catalogs() {
        let c = MessageCatalog::parse("X1\tinfo\tset {{a}} to {v}\n").unwrap();
        assert_eq!(
            c.format("X1", &params([("v", "3")])).unwrap(),
            "X1 set {a} to 3"
        );
        for (bad, why) in [
            ("X1\tinfo", "expected code"),
            ("X1\tloud\thi", "unknown severity"),
            ("X1\tinfo\thi {oops", "unclosed"),
            ("X1\tinfo\thi }", "unmatched"),
            ("X1\tinfo\ta\nX1\tinfo\tb", "defined twice"),
            ("X-1\tinfo\ta", "bad code"),
        ] {
            let err = MessageCatalog::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.starts_with("catalog line "), "{err}");
        }
    }
}
