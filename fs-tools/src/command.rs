//! Parsing the one JSON command given as the only argument.

use serde_json::{Map, Value};

use crate::error::FsError;

#[derive(Debug, PartialEq)]
pub enum Command {
    ListFiles {
        path: String,
    },
    Stat {
        path: String,
    },
    ReadFile {
        path: String,
    },
    WriteFile {
        path: String,
    },
    MakeDirectory {
        path: String,
        parents: bool,
    },
    Remove {
        path: String,
        recursive: bool,
    },
    Watch {
        path: String,
        recursive: bool,
        filter: Option<Vec<String>>,
        timeout_secs: Option<f64>,
    },
}

const COMMANDS: &str = "one of ListFiles, Stat, ReadFile, WriteFile, MakeDirectory, Remove, Watch";

pub fn parse(text: &str) -> Result<Command, FsError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FsError::invalid("the command is not valid JSON", e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(FsError::invalid(
            "the command must be a JSON object",
            format!("expected {{\"<Command>\": {{...}}}} with <Command> {COMMANDS}"),
        ));
    };
    let mut entries = obj.into_iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(pair), None) => pair,
        _ => {
            return Err(FsError::invalid(
                "the command object must have exactly one key, the command name",
                format!("expected {COMMANDS}"),
            ))
        }
    };
    let Value::Object(args) = body else {
        return Err(FsError::invalid(
            format!("{name}: the arguments must be a JSON object"),
            String::new(),
        ));
    };
    let a = Args { name: &name, args };
    Ok(match name.as_str() {
        "ListFiles" => Command::ListFiles { path: a.path()? },
        "Stat" => Command::Stat { path: a.path()? },
        "ReadFile" => Command::ReadFile { path: a.path()? },
        "WriteFile" => Command::WriteFile { path: a.path()? },
        "MakeDirectory" => Command::MakeDirectory {
            path: a.path()?,
            parents: a.bool_or("parents", true)?,
        },
        "Remove" => Command::Remove {
            path: a.path()?,
            recursive: a.bool_or("recursive", false)?,
        },
        "Watch" => Command::Watch {
            path: a.path()?,
            recursive: a.bool_or("recursive", false)?,
            filter: a.filter()?,
            timeout_secs: a.timeout()?,
        },
        other => {
            return Err(FsError::invalid(
                format!("unknown command {other:?}"),
                format!("expected {COMMANDS}"),
            ))
        }
    })
}

struct Args<'a> {
    name: &'a str,
    args: Map<String, Value>,
}

impl Args<'_> {
    fn bad(&self, key: &str, want: &str) -> FsError {
        FsError::invalid(
            format!("{}: \"{key}\" must be {want}", self.name),
            format!("got {}", self.args.get(key).unwrap_or(&Value::Null)),
        )
    }

    fn path(&self) -> Result<String, FsError> {
        match self.args.get("path") {
            Some(Value::String(p)) if !p.contains('\0') => Ok(p.clone()),
            Some(Value::String(_)) => Err(self.bad("path", "a string without NUL bytes")),
            None => Err(FsError::invalid(
                format!("{}: missing \"path\"", self.name),
                String::new(),
            )),
            Some(_) => Err(self.bad("path", "a string")),
        }
    }

    /// Absent or null means the default.
    fn bool_or(&self, key: &str, default: bool) -> Result<bool, FsError> {
        match self.args.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(key, "true or false")),
        }
    }

    fn filter(&self) -> Result<Option<Vec<String>>, FsError> {
        match self.args.get("filter") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.bad("filter", "null or an array of event type names")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.bad("filter", "null or an array of event type names")),
        }
    }

    fn timeout(&self) -> Result<Option<f64>, FsError> {
        match self.args.get("timeout_secs") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(s) if s >= 0.0 && s.is_finite() => Ok(Some(s)),
                _ => Err(self.bad("timeout_secs", "null or a non-negative number")),
            },
            Some(_) => Err(self.bad("timeout_secs", "null or a non-negative number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(
            parse(r#"{"ListFiles":{"path":"/a"}}"#).ok(),
            Some(Command::ListFiles { path: "/a".into() })
        );
        assert_eq!(
            parse(r#"{"MakeDirectory":{"path":"/a"}}"#).ok(),
            Some(Command::MakeDirectory {
                path: "/a".into(),
                parents: true
            })
        );
        assert_eq!(
            parse(r#"{"Remove":{"path":"/a","recursive":true}}"#).ok(),
            Some(Command::Remove {
                path: "/a".into(),
                recursive: true
            })
        );
        assert_eq!(
            parse(
                r#"{"Watch":{"path":"/a","recursive":false,"filter":["Create"],"timeout_secs":3}}"#
            )
            .ok(),
            Some(Command::Watch {
                path: "/a".into(),
                recursive: false,
                filter: Some(vec!["Create".into()]),
                timeout_secs: Some(3.0)
            })
        );
    }

    #[test]
    fn rejects_malformed_commands() {
        for bad in [
            "",
            "nope",
            "[]",
            "{}",
            r#"{"Stat":{"path":"/"},"ReadFile":{"path":"/"}}"#,
            r#"{"Stat":"/"}"#,
            r#"{"Stat":{}}"#,
            r#"{"Stat":{"path":1}}"#,
            r#"{"Stat":{"path":"a\u0000b"}}"#,
            r#"{"Frobnicate":{"path":"/"}}"#,
            r#"{"Remove":{"path":"/x","recursive":"yes"}}"#,
            r#"{"Watch":{"path":"/x","timeout_secs":-1}}"#,
            r#"{"Watch":{"path":"/x","filter":"Create"}}"#,
            r#"{"Watch":{"path":"/x","filter":[1]}}"#,
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.kind, "InvalidCommand", "{bad}");
            assert_eq!(err.exit_code, 2, "{bad}");
        }
    }
}
