//! Subscription rules: the SQL filter subset of "Subscription Rule SQL Filter Syntax"
//! (learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-sql-filter).
//!
//! Supported: `NOT`, `AND`, `OR`, parentheses; `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`;
//! `[NOT] IN (...)`; `IS [NOT] NULL`; `[NOT] LIKE 'pattern'` (`%`, `_`); `EXISTS (property)`;
//! constants (`'text'` with `''` escapes, numbers, `TRUE`, `FALSE`, `NULL`); properties as
//! `name`, `user.name` (application properties, the default scope) or `sys.Name` (system
//! properties: `MessageId`, `CorrelationId`, `Label`, `To`, `ReplyTo`, `ContentType`,
//! `SessionId`). Keywords and `sys` names are case-insensitive; application property names are
//! matched exactly. A comparison with a missing property is unknown (SQL three-valued logic), so
//! it never matches. Arithmetic and functions are not supported and are refused when the rule is
//! parsed, never silently ignored.

use std::collections::BTreeMap;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches every message (the `$Default` rule's TrueFilter).
    True,
    /// A SQL expression.
    Sql(Expr),
}

/// A value in a filter or a message property.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Any number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// A node of a SQL filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a OR b`
    Or(Box<Expr>, Box<Expr>),
    /// `a AND b`
    And(Box<Expr>, Box<Expr>),
    /// `NOT a`
    Not(Box<Expr>),
    /// `x op y`
    Compare(Operand, CompareOp, Operand),
    /// `x [NOT] IN (...)`
    In(Operand, Vec<Operand>, bool),
    /// `p IS [NOT] NULL`
    IsNull(Property, bool),
    /// `x [NOT] LIKE 'pattern'`
    Like(Operand, String, bool),
    /// `EXISTS (p)`
    Exists(Property),
    /// `TRUE`, `FALSE`
    Constant(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A property reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Property {
    /// An application property (`name` or `user.name`).
    User(String),
    /// A system property (`sys.Name`), lowercased.
    Sys(String),
}

/// A constant or a property.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A constant; `None` is `NULL`.
    Constant(Option<Value>),
    /// A property.
    Property(Property),
}

/// Why a filter does not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("SQL filter {expression:?}: {message} (at character {position})")]
pub struct FilterError {
    /// The expression.
    pub expression: String,
    /// What is wrong.
    pub message: String,
    /// Character offset.
    pub position: usize,
}

/// The properties a filter sees.
#[derive(Debug)]
pub struct MessageProperties<'a> {
    /// Application properties.
    pub user: &'a BTreeMap<String, serde_json::Value>,
    /// System properties by lowercase name (`messageid`, `label`, ...).
    pub sys: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokenize(src: &str) -> Result<Vec<(Token, usize)>, (String, usize)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '(' => {
                i += 1;
                Token::LParen
            }
            ')' => {
                i += 1;
                Token::RParen
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(("unterminated string".into(), start)),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                Token::Text(text)
            }
            '=' => {
                i += 1;
                Token::Op("=")
            }
            '<' | '>' | '!' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('<', Some('>')) => ("<>", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('!', Some('=')) => ("!=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(("unexpected '!'".into(), start)),
                };
                i += len;
                Token::Op(op)
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&ch| ch == ']')
                    .ok_or(("unterminated [name]".to_string(), start))?;
                let name: String = chars[i + 1..i + end].iter().collect();
                i += end + 1;
                Token::Ident(name)
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                Token::Number(
                    text.parse()
                        .map_err(|_| (format!("bad number {text}"), start))?,
                )
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
                {
                    i += 1;
                }
                Token::Ident(chars[start..i].iter().collect())
            }
            '+' | '-' | '*' | '/' | '%' => {
                return Err(("arithmetic is not supported".into(), start));
            }
            other => return Err((format!("unexpected {other:?}"), start)),
        };
        out.push((token, start));
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            expression: self.src.to_string(),
            message: message.into(),
            position: self
                .tokens
                .get(self.pos)
                .map(|(_, p)| *p)
                .unwrap_or(self.src.chars().count()),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let yes = self.keyword(word);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not()?;
        while self.eat_keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::RParen, "')'")?;
            return Ok(inner);
        }
        if self.eat_keyword("EXISTS") {
            self.expect(Token::LParen, "'(' after EXISTS")?;
            let Operand::Property(p) = self.operand()? else {
                return Err(self.error("EXISTS takes a property"));
            };
            self.expect(Token::RParen, "')'")?;
            return Ok(Expr::Exists(p));
        }
        let left = self.operand()?;
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            if !self.eat_keyword("NULL") {
                return Err(self.error("expected NULL after IS"));
            }
            let Operand::Property(p) = left else {
                return Err(self.error("IS NULL takes a property"));
            };
            return Ok(Expr::IsNull(p, negated));
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("IN") {
            self.expect(Token::LParen, "'(' after IN")?;
            let mut list = vec![self.operand()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect(Token::RParen, "')' closing the IN list")?;
            return Ok(Expr::In(left, list, negated));
        }
        if self.eat_keyword("LIKE") {
            let Some(Token::Text(pattern)) = self.peek().cloned() else {
                return Err(self.error("LIKE takes a string pattern"));
            };
            self.pos += 1;
            if self.keyword("ESCAPE") {
                return Err(self.error("LIKE ... ESCAPE is not supported"));
            }
            return Ok(Expr::Like(left, pattern, negated));
        }
        if negated {
            return Err(self.error("expected IN or LIKE after NOT"));
        }
        let op = match self.peek() {
            Some(Token::Op(op)) => match *op {
                "=" => CompareOp::Eq,
                "<>" | "!=" => CompareOp::Ne,
                "<" => CompareOp::Lt,
                "<=" => CompareOp::Le,
                ">" => CompareOp::Gt,
                _ => CompareOp::Ge,
            },
            _ => {
                return match left {
                    Operand::Constant(Some(Value::Bool(b))) => Ok(Expr::Constant(b)),
                    _ => Err(self.error("expected a comparison, IN, LIKE or IS")),
                };
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error("unexpected end of expression"));
        };
        let operand = match token {
            Token::Text(t) => Operand::Constant(Some(Value::Text(t))),
            Token::Number(n) => Operand::Constant(Some(Value::Number(n))),
            Token::Ident(name) => {
                if name.eq_ignore_ascii_case("TRUE") {
                    Operand::Constant(Some(Value::Bool(true)))
                } else if name.eq_ignore_ascii_case("FALSE") {
                    Operand::Constant(Some(Value::Bool(false)))
                } else if name.eq_ignore_ascii_case("NULL") {
                    Operand::Constant(None)
                } else if ["AND", "OR", "NOT", "IN", "IS", "LIKE", "EXISTS"]
                    .iter()
                    .any(|k| name.eq_ignore_ascii_case(k))
                {
                    return Err(self.error(format!("unexpected keyword {name}")));
                } else {
                    match name.split_once('.') {
                        Some((scope, rest)) if scope.eq_ignore_ascii_case("sys") => {
                            Operand::Property(Property::Sys(rest.to_ascii_lowercase()))
                        }
                        Some((scope, rest)) if scope.eq_ignore_ascii_case("user") => {
                            Operand::Property(Property::User(rest.to_string()))
                        }
                        _ => Operand::Property(Property::User(name)),
                    }
                }
            }
            Token::LParen => return Err(self.error("functions and arithmetic are not supported")),
            _ => return Err(self.error("expected a value or a property")),
        };
        self.pos += 1;
        if self.peek() == Some(&Token::LParen) {
            return Err(self.error("functions are not supported"));
        }
        Ok(operand)
    }
}

impl Filter {
    /// Parses a SQL filter expression (`1=1` and `TRUE` match everything).
    pub fn parse(expression: &str) -> Result<Self, FilterError> {
        let tokens = tokenize(expression).map_err(|(message, position)| FilterError {
            expression: expression.to_string(),
            message,
            position,
        })?;
        if tokens.is_empty() {
            return Err(FilterError {
                expression: expression.to_string(),
                message: "empty expression".into(),
                position: 0,
            });
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            src: expression,
        };
        let expr = parser.or()?;
        if parser.pos != parser.tokens.len() {
            return Err(parser.error("unexpected text after the expression"));
        }
        Ok(Filter::Sql(expr))
    }

    /// Whether a message with these properties matches (unknown = no).
    pub fn matches(&self, props: &MessageProperties<'_>) -> bool {
        match self {
            Filter::True => true,
            Filter::Sql(e) => eval(e, props) == Some(true),
        }
    }
}

fn lookup(p: &Property, props: &MessageProperties<'_>) -> Option<Value> {
    match p {
        Property::User(name) => match props.user.get(name)? {
            serde_json::Value::String(s) => Some(Value::Text(s.clone())),
            serde_json::Value::Number(n) => n.as_f64().map(Value::Number),
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            _ => None,
        },
        Property::Sys(name) => props.sys.get(name.as_str()).map(|s| Value::Text(s.clone())),
    }
}

fn value(o: &Operand, props: &MessageProperties<'_>) -> Option<Value> {
    match o {
        Operand::Constant(v) => v.clone(),
        Operand::Property(p) => lookup(p, props),
    }
}

fn compare(a: &Value, op: CompareOp, b: &Value) -> Option<bool> {
    let ordering = match (a, b) {
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y)?,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => return None,
    };
    use std::cmp::Ordering::*;
    Some(match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
    })
}

fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like(&text[i..], rest)),
        Some(('_', rest)) => !text.is_empty() && like(&text[1..], rest),
        Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
    }
}

fn eval(e: &Expr, props: &MessageProperties<'_>) -> Option<bool> {
    match e {
        Expr::Constant(b) => Some(*b),
        Expr::Or(a, b) => match (eval(a, props), eval(b, props)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::And(a, b) => match (eval(a, props), eval(b, props)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Not(a) => eval(a, props).map(|b| !b),
        Expr::Compare(a, op, b) => compare(&value(a, props)?, *op, &value(b, props)?),
        Expr::In(a, list, negated) => {
            let v = value(a, props)?;
            let mut unknown = false;
            for item in list {
                match value(item, props).and_then(|x| compare(&v, CompareOp::Eq, &x)) {
                    Some(true) => return Some(!negated),
                    Some(false) => {}
                    None => unknown = true,
                }
            }
            if unknown { None } else { Some(*negated) }
        }
        Expr::IsNull(p, negated) => Some(lookup(p, props).is_none() != *negated),
        Expr::Exists(p) => Some(lookup(p, props).is_some()),
        Expr::Like(a, pattern, negated) => match value(a, props)? {
            Value::Text(t) => {
                let t: Vec<char> = t.chars().collect();
                let p: Vec<char> = pattern.chars().collect();
                Some(like(&t, &p) != *negated)
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(user: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        user.as_object().unwrap().clone().into_iter().collect()
    }

    fn matches(expr: &str, user: &BTreeMap<String, serde_json::Value>) -> bool {
        let mut p = MessageProperties {
            user,
            sys: BTreeMap::new(),
        };
        p.sys.insert("label", "step".into());
        p.sys.insert("messageid", "m-1".into());
        Filter::parse(expr).unwrap().matches(&p)
    }

    #[test]
    fn the_bicep_rule_selects_terminal_events() {
        let rule = "status IN ('succeeded', 'failed', 'rejected')";
        for (status, expected) in [
            ("succeeded", true),
            ("failed", true),
            ("rejected", true),
            ("accepted", false),
            ("provisioning", false),
            ("Succeeded", false),
        ] {
            let p = props(json!({"status": status, "deploymentId": "d-1"}));
            assert_eq!(matches(rule, &p), expected, "{status}");
        }
        assert!(!matches(rule, &props(json!({"deploymentId": "d-1"}))));
    }

    #[test]
    fn equality_and_or_not_and_case_insensitive_keywords() {
        let p =
            props(json!({"status": "failed", "deploymentId": "d-1", "attempt": 3, "final": true}));
        assert!(matches("deploymentId = 'd-1' AND status = 'failed'", &p));
        assert!(!matches("deploymentId = 'd-2' and status = 'failed'", &p));
        assert!(matches("deploymentId = 'd-2' or status = 'failed'", &p));
        assert!(matches("NOT (status = 'succeeded')", &p));
        assert!(matches(
            "status <> 'succeeded' AND status != 'accepted'",
            &p
        ));
        assert!(matches("attempt >= 3 AND attempt < 4 AND final = TRUE", &p));
        assert!(matches("status NOT IN ('succeeded', 'rejected')", &p));
        assert!(matches("user.status = 'failed' AND sys.Label = 'step'", &p));
        assert!(matches(
            "sys.MessageId LIKE 'm-%' AND status LIKE 'f_iled'",
            &p
        ));
        assert!(matches(
            "EXISTS (status) AND missing IS NULL AND status IS NOT NULL",
            &p
        ));
        assert!(matches("1=1", &p));
        assert!(matches("TRUE", &p));
        assert!(!matches("FALSE", &p));
        assert!(matches("[deploymentId] = 'd-1'", &p));
        assert!(matches("note = 'it''s'", &props(json!({"note": "it's"}))));
    }

    #[test]
    fn a_missing_property_is_unknown_not_true() {
        let p = props(json!({}));
        assert!(!matches("status = 'x'", &p));
        assert!(!matches("NOT (status = 'x')", &p));
        assert!(!matches("status <> 'x'", &p));
        assert!(matches("status = 'x' OR 1 = 1", &p));
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        for bad in [
            "",
            "status IN ('a'",
            "status = ",
            "a + 1 = 2",
            "newid() = 'x'",
            "status = 'a' AND",
            "status 'a'",
            "status = 'unterminated",
            "x LIKE 'a' ESCAPE '!'",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let e = Filter::parse("status = 'a' status").unwrap_err();
        assert_eq!(e.position, 13);
    }
}
