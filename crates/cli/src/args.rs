//! A small command-line parser: `--name value`, `--name=value`, flags, repeated options and
//! positionals, checked against what each command accepts (no dependency for five commands).

use std::collections::BTreeMap;

/// One option a command accepts.
pub struct Opt {
    pub name: &'static str,
    /// Takes a value (`--units 1000`); otherwise it is a flag (`--json`).
    pub value: bool,
}

pub const fn flag(name: &'static str) -> Opt {
    Opt { name, value: false }
}

pub const fn valued(name: &'static str) -> Opt {
    Opt { name, value: true }
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    pub positionals: Vec<String>,
    values: BTreeMap<&'static str, Vec<String>>,
    flags: Vec<&'static str>,
}

impl Args {
    pub fn parse(raw: &[String], accepted: &[Opt]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = raw.iter();
        let mut only_positionals = false;
        while let Some(a) = it.next() {
            if only_positionals || a == "-" || !a.starts_with('-') {
                out.positionals.push(a.clone());
                continue;
            }
            if a == "--" {
                only_positionals = true;
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            let Some(opt) = accepted.iter().find(|o| o.name == name) else {
                return Err(format!("unknown option {name}"));
            };
            if opt.value {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?,
                };
                out.values.entry(opt.name).or_default().push(v);
            } else {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                out.flags.push(opt.name);
            }
        }
        Ok(out)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value given for a repeatable option.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name)
            .ok_or_else(|| format!("missing required option {name}"))
    }

    /// Exactly `n` positionals, named in the error message.
    pub fn positionals(&self, names: &[&str]) -> Result<&[String], String> {
        if self.positionals.len() == names.len() {
            Ok(&self.positionals)
        } else {
            Err(format!(
                "expected {} argument(s): {}, got {}",
                names.len(),
                names.join(" "),
                self.positionals.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn values_flags_and_positionals() {
        let opts = [flag("--json"), valued("--units"), valued("--header")];
        let a = Args::parse(
            &s(&[
                "old.json",
                "--units=10",
                "--json",
                "--header",
                "a:1",
                "--header",
                "b:2",
                "new.json",
            ]),
            &opts,
        )
        .unwrap();
        assert_eq!(a.positionals, s(&["old.json", "new.json"]));
        assert_eq!(a.value("--units"), Some("10"));
        assert!(a.flag("--json"));
        assert_eq!(a.values("--header"), s(&["a:1", "b:2"]).as_slice());
    }

    #[test]
    fn errors_name_the_option() {
        let opts = [flag("--json"), valued("--units")];
        assert_eq!(
            Args::parse(&s(&["--nope"]), &opts).unwrap_err(),
            "unknown option --nope"
        );
        assert_eq!(
            Args::parse(&s(&["--units"]), &opts).unwrap_err(),
            "--units needs a value"
        );
        assert_eq!(
            Args::parse(&s(&["--json=1"]), &opts).unwrap_err(),
            "--json takes no value"
        );
        let a = Args::parse(&s(&["--", "--json"]), &opts).unwrap();
        assert_eq!(a.positionals, s(&["--json"]));
        assert!(a.positionals(&["a", "b"]).is_err());
    }
}
