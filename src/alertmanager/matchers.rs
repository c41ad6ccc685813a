//! Alertmanager's label matchers, by its documented rules: `=` and `!=`
//! compare the whole value, `=~` and `!~` match a regex anchored at both
//! ends, and a label an alert does not have has the empty value (so
//! `team=""` holds for an alert without `team`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One matcher, in the API's shape (`isEqual` defaults to true).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A checked matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub spec: Spec,
    regex: Option<regex::Regex>,
}

impl Matcher {
    pub fn new(spec: Spec) -> Result<Matcher, String> {
        if spec.name.is_empty() {
            return Err("a matcher needs a label name".into());
        }
        let regex = if spec.is_regex {
            Some(
                regex::Regex::new(&format!("^(?:{})$", spec.value))
                    .map_err(|err| format!("{:?} is not a valid regex: {err}", spec.value))?,
            )
        } else {
            None
        };
        Ok(Matcher { spec, regex })
    }

    /// `name="value"`, `name!=value`, `name=~"re"`, `name!~re` (quotes
    /// optional), as `amtool` and `filter=` write them.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("{text:?} is not a matcher such as name=\"value\""))?;
        let (name, rest) = text.split_at(at);
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .ok_or_else(|| format!("{text:?} is not a matcher such as name=\"value\""))?;
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_owned(),
        };
        Matcher::new(Spec {
            name: name.trim().to_owned(),
            value,
            is_regex: op.contains('~'),
            is_equal: !op.starts_with('!'),
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.spec.name).map_or("", String::as_str);
        let hit = match &self.regex {
            Some(re) => re.is_match(value),
            None => value == self.spec.value,
        };
        hit == self.spec.is_equal
    }
}

/// Every matcher holds.
pub fn all(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn holds(matcher: &str, pairs: &[(&str, &str)]) -> bool {
        Matcher::parse(matcher).unwrap().matches(&labels(pairs))
    }

    #[test]
    fn alertmanagers_rules() {
        let web1 = [("source", "web1"), ("level", "urgent")];
        assert!(holds("source=web1", &web1));
        assert!(holds("source=\"web1\"", &web1));
        assert!(!holds("source=web", &web1));
        assert!(holds("source!=web2", &web1));
        assert!(!holds("source!=web1", &web1));
        // Regexes are anchored at both ends.
        assert!(holds("source=~web.*", &web1));
        assert!(!holds("source=~eb", &web1));
        assert!(holds("source=~\"web1|web2\"", &web1));
        assert!(holds("source!~db.*", &web1));
        assert!(!holds("source!~w.*", &web1));
        // A missing label is the empty value.
        assert!(holds("team=\"\"", &web1));
        assert!(!holds("team!=\"\"", &web1));
        assert!(holds("team=~\".*\"", &web1));
        assert!(!holds("team=~\".+\"", &web1));
        assert!(holds("{level=\"urgent\"}", &web1));
        // Unicode and odd values.
        assert!(holds("subject=\"☃ \\\"q\\\"\"", &[("subject", "☃ \"q\"")]));
        assert!(Matcher::parse("source").is_err());
        assert!(Matcher::parse("source=~(").is_err());
        assert!(Matcher::parse("=x").is_err());
    }

    #[test]
    fn the_api_shape_defaults_to_equal() {
        let spec: Spec =
            serde_json::from_str(r#"{"name": "source", "value": "web.*", "isRegex": true}"#)
                .unwrap();
        assert!(spec.is_equal);
        let m = Matcher::new(spec).unwrap();
        assert!(m.matches(&labels(&[("source", "web9")])));
    }
}
