//! Test-only: the Service Bus entities `infra/modules/servicebus.bicep` declares, read from the
//! Bicep text itself (params with the defaults `infra/main.bicep` passes, `var` lists, `resource`
//! blocks with `parent`, `name`, a `[for x in list: {...}]` loop and `properties`), so that the
//! mirror test compares the two files rather than a hand-copied list.
//!
//! Only the subset of Bicep those two files use is understood: one property per line, single-quoted
//! strings with `\'` escapes, integers, booleans, references to a param or var, nested objects.
//! Anything else (function calls, interpolation) is kept as [`Value::Other`] and is an error only
//! where the mirror test needs the value.

use std::collections::BTreeMap;

/// A Bicep value, unresolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `'text'`
    Str(String),
    /// `10`
    Int(i64),
    /// `true`
    Bool(bool),
    /// A param, var or loop variable.
    Ref(String),
    /// `[ ... ]`
    List(Vec<Value>),
    /// `{ ... }`
    Obj(BTreeMap<String, Value>),
    /// An expression this reader does not evaluate.
    Other(String),
}

/// A `resource` declaration.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its symbolic name.
    pub symbol: String,
    /// `Microsoft.ServiceBus/namespaces/queues` (without the API version).
    pub kind: String,
    /// `[for VAR in LIST: ...]`: (VAR, LIST).
    pub each: Option<(String, Value)>,
    /// Its body.
    pub body: BTreeMap<String, Value>,
}

/// One Bicep file.
#[derive(Debug, Clone, Default)]
pub struct File {
    /// `param` defaults (None: no default).
    pub params: BTreeMap<String, Option<Value>>,
    /// `var`s.
    pub vars: BTreeMap<String, Value>,
    /// `resource`s in order.
    pub resources: Vec<Resource>,
    /// `module SYMBOL 'PATH' = ...`: the `params` object of each module, by path.
    pub module_params: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Removes a `//` comment outside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        let c = bytes[i];
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'\'' {
                in_str = false;
            }
        } else if c == b'\'' {
            in_str = true;
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            return &line[..i];
        }
    }
    line
}

/// Parses a one-line value.
pub fn value(text: &str) -> Value {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => return Value::Other(t.to_string()),
                }
            } else if c == '\'' || (c == '$' && inner.contains("${")) {
                // An unescaped quote or an interpolation: not a plain string.
                return Value::Other(t.to_string());
            } else {
                out.push(c);
            }
        }
        return Value::Str(out);
    }
    if let Ok(n) = t.parse() {
        return Value::Int(n);
    }
    match t {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Value::Ref(t.to_string());
    }
    Value::Other(t.to_string())
}

/// Reads lines of an object body after its `{` up to the matching `}`.
fn object<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    while let Some(raw) = lines.next() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('}') {
            return Ok(out);
        }
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("not `key: value`: {raw:?}"))?;
        let key = key.trim().trim_matches('\'').to_string();
        let rest = rest.trim();
        let v = match rest {
            "{" => Value::Obj(object(lines)?),
            "[" => Value::List(list(lines)?),
            _ => value(rest),
        };
        out.insert(key, v);
    }
    Err("unterminated object".into())
}

/// Reads lines of a list after its `[` up to the matching `]`.
fn list<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    while let Some(raw) = lines.next() {
        let line = strip_comment(raw).trim();
        match line {
            "" => {}
            "]" => return Ok(out),
            "{" => out.push(Value::Obj(object(lines)?)),
            _ => out.push(value(line)),
        }
    }
    Err("unterminated list".into())
}

/// Parses a file.
pub fn parse(text: &str) -> Result<File, String> {
    let mut file = File::default();
    let mut lines = text.lines();
    while let Some(raw) = lines.next() {
        let line = strip_comment(raw).trim();
        if let Some(rest) = line.strip_prefix("param ") {
            // param NAME TYPE [= VALUE]
            let (decl, default) = match rest.split_once('=') {
                Some((d, v)) => (d, Some(value(v))),
                None => (rest, None),
            };
            let name = decl
                .split_whitespace()
                .next()
                .ok_or_else(|| format!("param without a name: {raw:?}"))?;
            file.params.insert(name.to_string(), default);
        } else if let Some(rest) = line.strip_prefix("var ") {
            let (name, v) = rest
                .split_once('=')
                .ok_or_else(|| format!("var without a value: {raw:?}"))?;
            let v = match v.trim() {
                "[" => Value::List(list(&mut lines)?),
                "{" => Value::Obj(object(&mut lines)?),
                other => value(other),
            };
            file.vars.insert(name.trim().to_string(), v);
        } else if let Some(rest) = line.strip_prefix("resource ") {
            // resource SYMBOL 'TYPE@API' = {            or
            // resource SYMBOL 'TYPE@API' = [for X in LIST: {
            let (head, tail) = rest
                .split_once('=')
                .ok_or_else(|| format!("resource without a body: {raw:?}"))?;
            let mut words = head.split_whitespace();
            let symbol = words.next().ok_or("resource without a symbol")?.to_string();
            let kind = words
                .next()
                .and_then(|w| w.trim_matches('\'').split('@').next())
                .ok_or_else(|| format!("resource without a type: {raw:?}"))?
                .to_string();
            let tail = tail.trim();
            let each = if let Some(f) = tail.strip_prefix("[for ") {
                let f = f
                    .strip_suffix('{')
                    .and_then(|f| f.trim().strip_suffix(':'))
                    .ok_or_else(|| format!("unsupported loop: {raw:?}"))?;
                let (var, list) = f
                    .split_once(" in ")
                    .ok_or_else(|| format!("unsupported loop: {raw:?}"))?;
                Some((var.trim().to_string(), value(list)))
            } else if tail == "{" {
                None
            } else {
                return Err(format!("unsupported resource form (a condition?): {raw:?}"));
            };
            let body = object(&mut lines)?;
            file.resources.push(Resource {
                symbol,
                kind,
                each,
                body,
            });
        } else if line.starts_with("module ") {
            return Err(format!("a module file only: {raw:?}"));
        }
        // `output`s, decorators and blank lines are not entities.
    }
    Ok(file)
}

/// Net bracket depth of a line (`{`/`[` open, `}`/`]` close), strings and comments left out.
fn depth_change(line: &str) -> i32 {
    let mut d = 0;
    let mut in_str = false;
    let mut escaped = false;
    for c in strip_comment(line).chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '\'' {
                in_str = false;
            }
            continue;
        }
        match c {
            '\'' => in_str = true,
            '{' | '[' | '(' => d += 1,
            '}' | ']' | ')' => d -= 1,
            _ => {}
        }
    }
    d
}

/// Reads what the caller of a module (main.bicep) declares that the mirror needs: its `param`
/// defaults and the `params` object of every `module` whose body is plain `key: value` lines.
/// Everything else is skipped.
pub fn caller(text: &str) -> File {
    let mut file = File::default();
    let mut lines = text.lines();
    while let Some(raw) = lines.next() {
        let line = strip_comment(raw).trim();
        if let Some(rest) = line.strip_prefix("param ") {
            let (decl, default) = match rest.split_once('=') {
                Some((d, v)) => (d, Some(value(v))),
                None => (rest, None),
            };
            if let Some(name) = decl.split_whitespace().next() {
                file.params.insert(name.to_string(), default);
            }
        }
        let mut depth = depth_change(line);
        let mut body = Vec::new();
        while depth > 0 {
            let Some(next) = lines.next() else { break };
            depth += depth_change(next);
            body.push(next);
        }
        if let Some(rest) = line.strip_prefix("module ")
            && line.ends_with('{')
            && let Some(path) = rest.split('\'').nth(1)
            && let Ok(obj) = object(&mut body.into_iter())
            && let Some(Value::Obj(params)) = obj.get("params")
        {
            file.module_params.insert(path.to_string(), params.clone());
        }
    }
    file
}

/// A resolved property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// The entities of the namespace, with their properties flattened (`sqlFilter.sqlExpression`).
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    /// Queues by name.
    pub queues: BTreeMap<String, BTreeMap<String, Scalar>>,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
}

/// A topic.
#[derive(Debug, Clone, Default)]
pub struct Topic {
    /// Its properties.
    pub properties: BTreeMap<String, Scalar>,
    /// Subscriptions by name.
    pub subscriptions: BTreeMap<String, Subscription>,
}

/// A subscription.
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    /// Its properties.
    pub properties: BTreeMap<String, Scalar>,
    /// Rules by name, their properties.
    pub rules: BTreeMap<String, BTreeMap<String, Scalar>>,
}

struct Resolver<'a> {
    module: &'a File,
    /// Values the caller passes for the module's params (already resolved in the caller).
    passed: BTreeMap<String, Value>,
}

impl Resolver<'_> {
    fn resolve(&self, v: &Value, locals: &BTreeMap<String, Value>) -> Result<Value, String> {
        Ok(match v {
            Value::Ref(name) => {
                if let Some(l) = locals.get(name) {
                    l.clone()
                } else if let Some(p) = self.passed.get(name) {
                    p.clone()
                } else if let Some(Some(d)) = self.module.params.get(name) {
                    self.resolve(d, locals)?
                } else if let Some(var) = self.module.vars.get(name) {
                    self.resolve(var, locals)?
                } else {
                    return Err(format!(
                        "{name} has no value (a param without default that the caller does not pass?)"
                    ));
                }
            }
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| self.resolve(i, locals))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    fn name(
        &self,
        body: &BTreeMap<String, Value>,
        locals: &BTreeMap<String, Value>,
    ) -> Result<String, String> {
        match self.resolve(body.get("name").ok_or("a resource without a name")?, locals)? {
            Value::Str(s) => Ok(s),
            other => Err(format!("name {other:?} is not a plain string")),
        }
    }

    /// Flattens `properties`; properties this reader cannot evaluate are errors.
    fn properties(
        &self,
        body: &BTreeMap<String, Value>,
        locals: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Scalar>, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Obj(props)) = body.get("properties") {
            self.flatten("", props, locals, &mut out)?;
        }
        Ok(out)
    }

    fn flatten(
        &self,
        prefix: &str,
        obj: &BTreeMap<String, Value>,
        locals: &BTreeMap<String, Value>,
        out: &mut BTreeMap<String, Scalar>,
    ) -> Result<(), String> {
        for (k, v) in obj {
            let key = format!("{prefix}{k}");
            match self.resolve(v, locals)? {
                Value::Obj(inner) => self.flatten(&format!("{key}."), &inner, locals, out)?,
                Value::Str(s) => {
                    out.insert(key, Scalar::Str(s));
                }
                Value::Int(n) => {
                    out.insert(key, Scalar::Int(n));
                }
                Value::Bool(b) => {
                    out.insert(key, Scalar::Bool(b));
                }
                other => return Err(format!("property {key}: cannot evaluate {other:?}")),
            }
        }
        Ok(())
    }
}

const NS: &str = "Microsoft.ServiceBus/namespaces";

/// The namespace `module` (servicebus.bicep) declares when `caller` (main.bicep) deploys it as
/// `module_path`: the caller's values for the module's params are the caller's param defaults.
pub fn namespace(module: &File, caller: &File, module_path: &str) -> Result<Namespace, String> {
    let call = caller
        .module_params
        .get(module_path)
        .ok_or_else(|| format!("the caller does not deploy {module_path}"))?;
    let caller_resolver = Resolver {
        module: caller,
        passed: BTreeMap::new(),
    };
    let mut passed = BTreeMap::new();
    for (k, v) in call {
        // Only plain values matter here (names like 'sb-${token}' are not compared).
        if let Ok(resolved) = caller_resolver.resolve(v, &BTreeMap::new()) {
            passed.insert(k.clone(), resolved);
        }
    }
    let r = Resolver { module, passed };
    let no_locals = BTreeMap::new();
    let mut ns = Namespace::default();
    // Symbol -> entity name, for `parent:`.
    let mut topics_by_symbol = BTreeMap::new();
    let mut subs_by_symbol: BTreeMap<String, (String, String)> = BTreeMap::new();
    let parent = |res: &Resource| -> Result<String, String> {
        match res.body.get("parent") {
            Some(Value::Ref(p)) => Ok(p.clone()),
            other => Err(format!("{}: parent {other:?} is not a symbol", res.symbol)),
        }
    };
    for res in &module.resources {
        let kind = res
            .kind
            .strip_prefix(NS)
            .ok_or_else(|| format!("{}: {} is not a Service Bus resource", res.symbol, res.kind))?;
        // One entry per loop element (or one).
        let instances: Vec<BTreeMap<String, Value>> = match &res.each {
            None => vec![BTreeMap::new()],
            Some((var, list)) => match r.resolve(list, &no_locals)? {
                Value::List(items) => items
                    .into_iter()
                    .map(|i| BTreeMap::from([(var.clone(), i)]))
                    .collect(),
                other => return Err(format!("{}: loop over {other:?}", res.symbol)),
            },
        };
        for locals in instances {
            match kind {
                "" => {}
                "/queues" => {
                    let name = r.name(&res.body, &locals)?;
                    ns.queues.insert(name, r.properties(&res.body, &locals)?);
                }
                "/topics" => {
                    let name = r.name(&res.body, &locals)?;
                    topics_by_symbol.insert(res.symbol.clone(), name.clone());
                    ns.topics.insert(
                        name,
                        Topic {
                            properties: r.properties(&res.body, &locals)?,
                            subscriptions: BTreeMap::new(),
                        },
                    );
                }
                "/topics/subscriptions" => {
                    let name = r.name(&res.body, &locals)?;
                    let topic = topics_by_symbol
                        .get(&parent(res)?)
                        .ok_or_else(|| {
                            format!("{}: parent is not a topic declared before", res.symbol)
                        })?
                        .clone();
                    subs_by_symbol.insert(res.symbol.clone(), (topic.clone(), name.clone()));
                    let properties = r.properties(&res.body, &locals)?;
                    ns.topics
                        .get_mut(&topic)
                        .expect("topic inserted above")
                        .subscriptions
                        .insert(
                            name,
                            Subscription {
                                properties,
                                rules: BTreeMap::new(),
                            },
                        );
                }
                "/topics/subscriptions/rules" => {
                    let name = r.name(&res.body, &locals)?;
                    let (topic, sub) = subs_by_symbol
                        .get(&parent(res)?)
                        .ok_or_else(|| {
                            format!(
                                "{}: parent is not a subscription declared before",
                                res.symbol
                            )
                        })?
                        .clone();
                    let properties = r.properties(&res.body, &locals)?;
                    ns.topics
                        .get_mut(&topic)
                        .and_then(|t| t.subscriptions.get_mut(&sub))
                        .expect("subscription inserted above")
                        .rules
                        .insert(name, properties);
                }
                other => return Err(format!("{}: unsupported type {NS}{other}", res.symbol)),
            }
        }
    }
    Ok(ns)
}

#[test]
fn reads_values_comments_loops_and_module_params() {
    let module = parse(
        "param count int\nparam ttl string = 'P1D'\nvar qs = [\n  'a' // first\n  'b'\n]\n\
         resource ns 'Microsoft.ServiceBus/namespaces@2024-01-01' = {\n  name: 'x'\n}\n\
         resource q 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in qs: {\n  parent: ns\n  name: q\n  properties: {\n    maxDeliveryCount: count\n    defaultMessageTimeToLive: ttl\n    f: {\n      e: 'it\\'s'\n    }\n  }\n}]\n",
    )
    .unwrap();
    let main = caller(
        "param n int = 7\nvar t = {\n  'k': n\n}\nmodule other 'o.bicep' = if (x) {\n  params: {\n    y: f(\n      1)\n  }\n}\nmodule m 'm.bicep' = {\n  params: {\n    count: n\n  }\n}\n",
    );
    let ns = namespace(&module, &main, "m.bicep").unwrap();
    assert_eq!(ns.queues.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(ns.queues["b"]["maxDeliveryCount"], Scalar::Int(7));
    assert_eq!(
        ns.queues["a"]["defaultMessageTimeToLive"],
        Scalar::Str("P1D".into())
    );
    assert_eq!(ns.queues["a"]["f.e"], Scalar::Str("it's".into()));
    // A param nobody passes and without a default cannot be resolved.
    let silent = caller("module m 'm.bicep' = {\n  params: {\n  }\n}\n");
    assert!(namespace(&module, &silent, "m.bicep").is_err());
    assert_eq!(value("'a${b}'"), Value::Other("'a${b}'".into()));
}
