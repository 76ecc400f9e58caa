//! The ARM template language, as far as the stand-in's deployments evaluate it: template
//! expressions (`"[func(args)]"`, `'strings'` with `''` escapes, numbers, nested calls,
//! `.property` and `[index]` access; `"[["` escapes a literal `[`) and these functions:
//! `parameters`, `variables`, `concat`, `format`, `resourceId`, `reference`, `resourceGroup`,
//! `subscription`, `deployment`, `toLower`, `toUpper`, `string`, `int`, `bool`, `equals`,
//! `not`, `and`, `or`, `if`, `empty`, `length`, `contains`, `coalesce`, `uniqueString`.
//! Anything else is refused with `InvalidTemplate`, never skipped (learn.microsoft.com
//! "Template functions" for their meaning; `uniqueString` is a stable 13-character base32
//! hash of its arguments, not ARM's exact murmur-based value).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Why an expression cannot be evaluated.
#[derive(Debug, Clone)]
pub(crate) struct TemplateError(pub(crate) String);

/// What expressions can see.
pub(crate) struct Scope<'a> {
    pub(crate) parameters: &'a BTreeMap<String, Value>,
    pub(crate) variables: &'a BTreeMap<String, Value>,
    pub(crate) subscription: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) resource_group: &'a Value,
    pub(crate) deployment_name: &'a str,
    /// `reference(id)`: the resource's current body, if it exists.
    pub(crate) lookup: &'a dyn Fn(&str) -> Option<Value>,
    /// Nesting of variable evaluation (a cycle is refused).
    pub(crate) depth: std::cell::Cell<u32>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
    Dot,
    LBracket,
    RBracket,
}

fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let err = |m: &str| TemplateError(format!("{m} in expression '[{src}]'"));
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated string")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1
                }
                let n: String = chars[start..i].iter().collect();
                out.push(Tok::Num(n.parse().map_err(|_| err("bad number"))?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(err(&format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    Call(String, Vec<Expr>),
    Prop(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, m: &str) -> TemplateError {
        TemplateError(format!("{m} in expression '[{}]'", self.src))
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn expr(&mut self) -> Result<Expr, TemplateError> {
        let mut e = match self.next() {
            Some(Tok::Str(s)) => Expr::Lit(Value::String(s)),
            Some(Tok::Num(n)) => Expr::Lit(json!(n as i64)),
            Some(Tok::Ident(name)) => {
                if self.next() != Some(Tok::LParen) {
                    return Err(self.err(&format!("'{name}' is not a function call")));
                }
                let mut args = Vec::new();
                if self.peek() == Some(&Tok::RParen) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.expr()?);
                        match self.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            _ => return Err(self.err("expected ',' or ')'")),
                        }
                    }
                }
                Expr::Call(name, args)
            }
            _ => return Err(self.err("expected a value")),
        };
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Ident(p)) => e = Expr::Prop(Box::new(e), p),
                        _ => return Err(self.err("expected a property name after '.'")),
                    }
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let idx = self.expr()?;
                    if self.next() != Some(Tok::RBracket) {
                        return Err(self.err("expected ']'"));
                    }
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                _ => return Ok(e),
            }
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> Result<bool, TemplateError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(TemplateError(format!("'{other}' is not a boolean"))),
    }
}

/// A stable 13-character base32 (a–z, 2–7) hash of `parts` (SHA-256; not ARM's exact value).
fn unique_string(parts: &[String]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, parts.join("-").as_bytes());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bits: u64 = u64::from_be_bytes(d.as_ref()[..8].try_into().expect("8 bytes"));
    let mut s = String::new();
    for _ in 0..13 {
        s.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    s
}

impl Scope<'_> {
    fn eval(&self, e: &Expr) -> Result<Value, TemplateError> {
        match e {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Prop(inner, p) => {
                let v = self.eval(inner)?;
                v.as_object()
                    .and_then(|o| {
                        o.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(p))
                            .map(|(_, v)| v.clone())
                    })
                    .ok_or_else(|| {
                        TemplateError(format!(
                            "The language expression property '{p}' doesn't exist"
                        ))
                    })
            }
            Expr::Index(inner, idx) => {
                let v = self.eval(inner)?;
                let i = self.eval(idx)?;
                match (&v, &i) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|n| a.get(n as usize).cloned())
                        .ok_or_else(|| TemplateError(format!("index {n} is out of range"))),
                    (Value::Object(_), Value::String(k)) => {
                        self.eval(&Expr::Prop(Box::new(Expr::Lit(v.clone())), k.clone()))
                    }
                    _ => Err(TemplateError("invalid index".to_owned())),
                }
            }
            Expr::Call(name, args) => self.call(name, args),
        }
    }

    fn call(&self, name: &str, args: &[Expr]) -> Result<Value, TemplateError> {
        let vals = || {
            args.iter()
                .map(|a| self.eval(a))
                .collect::<Result<Vec<_>, _>>()
        };
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(TemplateError(format!(
                    "The template function '{name}' expects {n} argument(s), got {}",
                    args.len()
                )))
            }
        };
        let lname = name.to_ascii_lowercase();
        Ok(match lname.as_str() {
            "parameters" | "variables" => {
                arity(1)?;
                let key = text(&self.eval(&args[0])?);
                let map = if lname == "parameters" {
                    self.parameters
                } else {
                    self.variables
                };
                let raw = map
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        TemplateError(format!(
                            "The template {} '{key}' is not found",
                            &lname[..lname.len() - 1]
                        ))
                    })?;
                if lname == "variables" {
                    // A variable's value may itself hold expressions (evaluated where used).
                    let depth = self.depth.get();
                    if depth > 32 {
                        return Err(TemplateError(format!(
                            "The template variable '{key}' refers to itself"
                        )));
                    }
                    self.depth.set(depth + 1);
                    let v = self.resolve(&raw);
                    self.depth.set(depth);
                    v?
                } else {
                    raw
                }
            }
            "concat" => {
                let v = vals()?;
                if v.iter().all(Value::is_array) && !v.is_empty() {
                    Value::Array(
                        v.into_iter()
                            .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                            .collect(),
                    )
                } else {
                    Value::String(v.iter().map(text).collect())
                }
            }
            "format" => {
                let v = vals()?;
                let Some(fmt) = v.first() else {
                    return Err(TemplateError("format needs a format string".into()));
                };
                let mut s = text(fmt);
                for (i, a) in v.iter().enumerate().skip(1) {
                    s = s.replace(&format!("{{{}}}", i - 1), &text(a));
                }
                Value::String(s)
            }
            "resourceid" => {
                let v: Vec<String> = vals()?.iter().map(text).collect();
                let (sub, rg, rest) = match v
                    .iter()
                    .position(|s| s.contains('/') && s.contains('.'))
                {
                    Some(0) => (
                        self.subscription.to_owned(),
                        self.resource_group["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        &v[..],
                    ),
                    Some(1) => (self.subscription.to_owned(), v[0].clone(), &v[1..]),
                    Some(2) => (v[0].clone(), v[1].clone(), &v[2..]),
                    _ => {
                        return Err(TemplateError(format!(
                            "resourceId needs a resource type such as 'Microsoft.Network/virtualNetworks', got {v:?}"
                        )));
                    }
                };
                let (ty, names) = rest.split_first().expect("position found");
                let types: Vec<&str> = ty.split('/').collect();
                if types.len() < 2 || types.len() - 1 != names.len() {
                    return Err(TemplateError(format!(
                        "Unable to evaluate template language function 'resourceId': the type '{ty}' requires {} resource name argument(s).",
                        types.len().saturating_sub(1)
                    )));
                }
                let mut id = format!(
                    "/subscriptions/{sub}/resourceGroups/{rg}/providers/{}",
                    types[0]
                );
                for (t, n) in types[1..].iter().zip(names) {
                    id.push_str(&format!("/{t}/{n}"));
                }
                Value::String(id)
            }
            "reference" => {
                if args.is_empty() || args.len() > 3 {
                    return Err(TemplateError("reference expects 1 to 3 arguments".into()));
                }
                let v = vals()?;
                let target = text(&v[0]);
                let full = v
                    .get(2)
                    .is_some_and(|f| text(f).eq_ignore_ascii_case("Full"));
                let body = (self.lookup)(&target).ok_or_else(|| {
                    TemplateError(format!(
                        "The Resource '{target}' was not found (reference)."
                    ))
                })?;
                if full {
                    body
                } else {
                    body["properties"].clone()
                }
            }
            "resourcegroup" => {
                arity(0)?;
                self.resource_group.clone()
            }
            "subscription" => {
                arity(0)?;
                json!({"id": format!("/subscriptions/{}", self.subscription), "subscriptionId": self.subscription, "tenantId": self.tenant, "displayName": format!("Subscription {}", self.subscription)})
            }
            "deployment" => {
                arity(0)?;
                json!({"name": self.deployment_name, "properties": {"templateLink": null}})
            }
            "tolower" => {
                arity(1)?;
                Value::String(text(&self.eval(&args[0])?).to_lowercase())
            }
            "toupper" => {
                arity(1)?;
                Value::String(text(&self.eval(&args[0])?).to_uppercase())
            }
            "string" => {
                arity(1)?;
                Value::String(text(&self.eval(&args[0])?))
            }
            "int" => {
                arity(1)?;
                let v = self.eval(&args[0])?;
                json!(
                    text(&v)
                        .parse::<i64>()
                        .map_err(|_| TemplateError(format!("'{v}' is not an integer")))?
                )
            }
            "bool" => {
                arity(1)?;
                json!(truthy(&self.eval(&args[0])?)?)
            }
            "equals" => {
                arity(2)?;
                let v = vals()?;
                json!(v[0] == v[1])
            }
            "not" => {
                arity(1)?;
                json!(!truthy(&self.eval(&args[0])?)?)
            }
            "and" | "or" => {
                let v = vals()?.iter().map(truthy).collect::<Result<Vec<_>, _>>()?;
                json!(if lname == "and" {
                    v.iter().all(|b| *b)
                } else {
                    v.iter().any(|b| *b)
                })
            }
            "if" => {
                arity(3)?;
                if truthy(&self.eval(&args[0])?)? {
                    self.eval(&args[1])?
                } else {
                    self.eval(&args[2])?
                }
            }
            "empty" => {
                arity(1)?;
                let v = self.eval(&args[0])?;
                json!(match &v {
                    Value::Null => true,
                    Value::String(s) => s.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                })
            }
            "length" => {
                arity(1)?;
                let v = self.eval(&args[0])?;
                json!(match &v {
                    Value::String(s) => s.chars().count(),
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    _ =>
                        return Err(TemplateError(
                            "length needs a string, array or object".into()
                        )),
                })
            }
            "contains" => {
                arity(2)?;
                let v = vals()?;
                json!(match &v[0] {
                    Value::String(s) => s.to_lowercase().contains(&text(&v[1]).to_lowercase()),
                    Value::Array(a) => a.contains(&v[1]),
                    Value::Object(o) => o.keys().any(|k| k.eq_ignore_ascii_case(&text(&v[1]))),
                    _ => false,
                })
            }
            "coalesce" => vals()?
                .into_iter()
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null),
            "uniquestring" => {
                Value::String(unique_string(&vals()?.iter().map(text).collect::<Vec<_>>()))
            }
            _ => {
                return Err(TemplateError(format!(
                    "The template function '{name}' is not supported by azure-sim (supported: parameters, variables, concat, format, resourceId, reference, resourceGroup, subscription, deployment, toLower, toUpper, string, int, bool, equals, not, and, or, if, empty, length, contains, coalesce, uniqueString)."
                )));
            }
        })
    }

    /// Evaluates every expression string inside `v`.
    pub(crate) fn resolve(&self, v: &Value) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => self.resolve_str(s)?,
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.resolve(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, x) in o {
                    out.insert(k.clone(), self.resolve(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn resolve_str(&self, s: &str) -> Result<Value, TemplateError> {
        if let Some(rest) = s.strip_prefix("[[") {
            return Ok(Value::String(format!("[{rest}")));
        }
        match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(inner) => {
                let toks = lex(inner)?;
                let mut p = Parser {
                    toks: &toks,
                    pos: 0,
                    src: inner,
                };
                let e = p.expr()?;
                if p.pos != toks.len() {
                    return Err(p.err("unexpected text after the expression"));
                }
                self.eval(&e)
            }
            None => Ok(Value::String(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_evaluate_as_arm_documents_them() {
        let params = BTreeMap::from([("vmName".to_owned(), json!("web"))]);
        let vars = BTreeMap::from([(
            "nic".to_owned(),
            json!("[concat(parameters('vmName'), 'Nic')]"),
        )]);
        let rg = json!({"name": "rg", "location": "westus"});
        let lookup = |_: &str| Some(json!({"properties": {"ipAddress": "198.51.100.7"}}));
        let scope = Scope {
            parameters: &params,
            variables: &vars,
            subscription: "s",
            tenant: "t",
            resource_group: &rg,
            deployment_name: "d",
            lookup: &lookup,
            depth: Default::default(),
        };
        assert_eq!(
            scope
                .resolve(&json!(
                    "[concat(parameters('vmName'), '-', resourceGroup().location)]"
                ))
                .unwrap(),
            json!("web-westus")
        );
        assert_eq!(
            scope.resolve(&json!("[variables('nic')]")).unwrap(),
            json!("webNic")
        );
        assert_eq!(
            scope
                .resolve(&json!(
                    "[resourceId('Microsoft.Network/networkInterfaces', 'n1')]"
                ))
                .unwrap(),
            json!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1"
            )
        );
        assert_eq!(
            scope.resolve(&json!("[reference('x').ipAddress]")).unwrap(),
            json!("198.51.100.7")
        );
        assert_eq!(
            scope.resolve(&json!("[[literal]")).unwrap(),
            json!("[literal]")
        );
        assert_eq!(
            scope
                .resolve(&json!("[if(equals(1, 1), 'a', 'b')]"))
                .unwrap(),
            json!("a")
        );
        assert!(
            scope
                .resolve(&json!("[listKeys('x', '2020-01-01')]"))
                .unwrap_err()
                .0
                .contains("not supported")
        );
        assert_eq!(unique_string(&["a".into()]).len(), 13);
    }
}
