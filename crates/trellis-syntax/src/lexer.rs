//! The lexer: source text to tokens with spans. It never stops at an error:
//! each problem is reported once, and the bad text becomes a
//! [`TokenKind::Error`] token that the parser skips silently, so one typo
//! gives one diagnostic rather than a cascade.

use std::fmt;

use trellis_value::Id;

use crate::error::SyntaxError;
use crate::source::{FileId, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A lower-case identifier: relation, rule or function name, or keyword.
    Name(String),
    /// An identifier starting with an upper-case letter or `_` (not `_` alone).
    Var(String),
    /// `_` alone.
    Wildcard,
    /// The magnitude of an integer literal (the sign is a separate `-`). Up to
    /// 2^63 so that `-9223372036854775808` can be written; the parser rejects
    /// 2^63 without a minus.
    Int(u64),
    Float(f64),
    Id(Id),
    Str(String),
    /// A per-node parameter such as `LOCALADDRESS`; made by the preprocessor.
    NodeParam(String),
    Punct(Punct),
    /// `#`: starts a preprocessor directive when first on its line.
    Hash,
    /// Text that was already reported as an error.
    Error,
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Punct {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    At,
    ColonDash,
    Assign,
    Colon,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Shl,
    Shr,
    Amp,
    Pipe,
    Caret,
    AndAnd,
    OrOr,
    Bang,
}

/// Punctuation spellings, two-character ones first so the longest match wins.
const PUNCTS: &[(&str, Punct)] = &[
    (":-", Punct::ColonDash),
    (":=", Punct::Assign),
    ("<=", Punct::Le),
    ("<<", Punct::Shl),
    (">=", Punct::Ge),
    (">>", Punct::Shr),
    ("==", Punct::EqEq),
    ("!=", Punct::Ne),
    ("&&", Punct::AndAnd),
    ("||", Punct::OrOr),
    ("(", Punct::LParen),
    (")", Punct::RParen),
    ("[", Punct::LBracket),
    ("]", Punct::RBracket),
    (",", Punct::Comma),
    (".", Punct::Dot),
    ("@", Punct::At),
    (":", Punct::Colon),
    ("<", Punct::Lt),
    (">", Punct::Gt),
    ("+", Punct::Plus),
    ("-", Punct::Minus),
    ("*", Punct::Star),
    ("/", Punct::Slash),
    ("%", Punct::Percent),
    ("&", Punct::Amp),
    ("|", Punct::Pipe),
    ("^", Punct::Caret),
    ("!", Punct::Bang),
];

impl Punct {
    pub(crate) fn symbol(self) -> &'static str {
        PUNCTS
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(s, _)| s)
    }
}

impl fmt::Display for TokenKind {
    /// How a token is named in "expected X, found Y" messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Name(n) => write!(f, "`{n}`"),
            TokenKind::Var(n) => write!(f, "variable `{n}`"),
            TokenKind::Wildcard => write!(f, "`_`"),
            TokenKind::Int(_) | TokenKind::Float(_) => write!(f, "a number"),
            TokenKind::Id(_) => write!(f, "an ID literal"),
            TokenKind::Str(_) => write!(f, "a string"),
            TokenKind::NodeParam(n) => write!(f, "`{n}`"),
            TokenKind::Punct(p) => write!(f, "`{}`", p.symbol()),
            TokenKind::Hash => write!(f, "`#`"),
            TokenKind::Error => write!(f, "an invalid token"),
            TokenKind::Eof => write!(f, "end of file"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// Only whitespace (and comments) precede it on its line: a `#` here starts
    /// a directive, and a `.` before it is taken as a statement end when
    /// recovering from an error.
    pub line_start: bool,
}

impl Token {
    pub(crate) fn is(&self, p: Punct) -> bool {
        self.kind == TokenKind::Punct(p)
    }

    pub(crate) fn is_name(&self, name: &str) -> bool {
        matches!(&self.kind, TokenKind::Name(n) if n == name)
    }
}

/// Lex `text`, which starts at byte `base` of `file` (not 0 for `-D` values,
/// which are slices of the synthetic `<command line>` file).
pub(crate) fn lex(
    file: FileId,
    text: &str,
    base: usize,
    diags: &mut Vec<SyntaxError>,
) -> Vec<Token> {
    let mut lexer = Lexer {
        file,
        text,
        bytes: text.as_bytes(),
        base,
        pos: 0,
        line_start: true,
        tokens: Vec::new(),
        diags,
    };
    // Editors on some systems start files with a byte-order mark.
    if text.starts_with('\u{feff}') {
        lexer.pos = '\u{feff}'.len_utf8();
    }
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    file: FileId,
    text: &'a str,
    bytes: &'a [u8],
    base: usize,
    pos: usize,
    line_start: bool,
    tokens: Vec<Token>,
    diags: &'a mut Vec<SyntaxError>,
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.base + start, self.base + end)
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: self.span(start, self.pos),
            line_start: self.line_start,
        });
        self.line_start = false;
    }

    fn run(&mut self) {
        while let Some(b) = self.peek_byte(0) {
            let start = self.pos;
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line_start = true;
                }
                b' ' | b'\t' | b'\r' | b'\x0c' => self.pos += 1,
                b'/' if self.peek_byte(1) == Some(b'/') => {
                    // Up to, not including, the newline, which then sets line_start.
                    while self.peek_byte(0).is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b'/' if self.peek_byte(1) == Some(b'*') => {
                    match self.text[start + 2..].find("*/") {
                        Some(len) => self.pos = start + 2 + len + 2,
                        None => {
                            self.diags.push(SyntaxError::UnterminatedComment {
                                span: self.span(start, start + 2),
                            });
                            self.pos = self.bytes.len();
                        }
                    }
                }
                b'"' => self.string(),
                b'0'..=b'9' => self.number(),
                b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                    while self.peek_byte(0).is_some_and(is_ident_continue) {
                        self.pos += 1;
                    }
                    let word = &self.text[start..self.pos];
                    let kind = if word == "_" {
                        TokenKind::Wildcard
                    } else if word.starts_with(|c: char| c.is_ascii_uppercase() || c == '_') {
                        TokenKind::Var(word.to_string())
                    } else {
                        TokenKind::Name(word.to_string())
                    };
                    self.push(kind, start);
                }
                b'#' => {
                    self.pos += 1;
                    self.push(TokenKind::Hash, start);
                }
                _ => self.punct_or_junk(),
            }
        }
    }

    fn punct_or_junk(&mut self) {
        let start = self.pos;
        let rest = &self.text[start..];
        if let Some((s, p)) = PUNCTS.iter().find(|(s, _)| rest.starts_with(s)) {
            self.pos += s.len();
            self.push(TokenKind::Punct(*p), start);
            return;
        }
        // Not ASCII punctuation: skip one whole character.
        let ch = rest.chars().next().unwrap_or('\u{fffd}');
        self.pos += ch.len_utf8().max(1);
        let span = self.span(start, self.pos);
        self.diags.push(if ch == '=' {
            SyntaxError::SingleEquals { span }
        } else {
            SyntaxError::UnexpectedChar { ch, span }
        });
        self.push(TokenKind::Error, start);
    }

    /// A string literal; it may not span lines (as in C).
    fn string(&mut self) {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        while let Some(c) = self.text[self.pos..].chars().next() {
            match c {
                '"' => {
                    self.pos += 1;
                    self.push(TokenKind::Str(value), start);
                    return;
                }
                '\n' => break,
                '\\' => {
                    let escape_start = self.pos;
                    self.pos += 1;
                    let Some(e) = self.text[self.pos..].chars().next() else {
                        break;
                    };
                    if e == '\n' {
                        break;
                    }
                    self.pos += e.len_utf8();
                    match e {
                        '"' => value.push('"'),
                        '\\' => value.push('\\'),
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        _ => self.diags.push(SyntaxError::UnknownEscape {
                            escape: format!("\\{e}"),
                            span: self.span(escape_start, self.pos),
                        }),
                    }
                }
                _ => {
                    value.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        self.diags.push(SyntaxError::UnterminatedString {
            span: self.span(start, self.pos),
        });
        self.push(TokenKind::Error, start);
    }

    fn eat_digits(&mut self, radix: u32) -> usize {
        let from = self.pos;
        while self
            .peek_byte(0)
            .is_some_and(|b| (b as char).is_digit(radix))
        {
            self.pos += 1;
        }
        self.pos - from
    }

    fn number(&mut self) {
        let start = self.pos;
        let kind = if self.bytes[start] == b'0' && matches!(self.peek_byte(1), Some(b'x' | b'X')) {
            self.pos += 2;
            let digits_start = self.pos;
            if self.eat_digits(16) == 0 {
                None
            } else {
                let digits = &self.text[digits_start..self.pos];
                if self.peek_byte(0) == Some(b'I') {
                    self.pos += 1;
                    Some(
                        Id::parse_hex(digits)
                            .map(TokenKind::Id)
                            .ok_or(id_too_large as TooLarge),
                    )
                } else {
                    Some(int_magnitude(digits, 16))
                }
            }
        } else {
            self.eat_digits(10);
            let int_end = self.pos;
            let mut float = false;
            if self.peek_byte(0) == Some(b'.')
                && self.peek_byte(1).is_some_and(|b| b.is_ascii_digit())
            {
                self.pos += 1;
                self.eat_digits(10);
                float = true;
            }
            if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
                let sign = usize::from(matches!(self.peek_byte(1), Some(b'+' | b'-')));
                if self.peek_byte(1 + sign).is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1 + sign;
                    self.eat_digits(10);
                    float = true;
                }
            }
            let digits = &self.text[start..self.pos];
            if float {
                digits.parse().ok().map(|f| Ok(TokenKind::Float(f)))
            } else if self.peek_byte(0) == Some(b'I') {
                self.pos += 1;
                Some(
                    Id::parse_dec(&self.text[start..int_end])
                        .map(TokenKind::Id)
                        .ok_or(id_too_large as TooLarge),
                )
            } else {
                Some(int_magnitude(digits, 10))
            }
        };
        // A number glued to letters (`12abc`, `0x1g`, `1.5I`) is one bad literal.
        let mut malformed = kind.is_none();
        while self.peek_byte(0).is_some_and(is_ident_continue) {
            self.pos += 1;
            malformed = true;
        }
        let span = self.span(start, self.pos);
        let kind = match kind {
            Some(Ok(kind)) if !malformed => kind,
            Some(Err(too_large)) if !malformed => {
                self.diags.push(too_large(span));
                TokenKind::Error
            }
            _ => {
                self.diags.push(SyntaxError::InvalidNumber {
                    text: self.text[start..self.pos].to_string(),
                    span,
                });
                TokenKind::Error
            }
        };
        self.push(kind, start);
    }
}

/// A literal out of its type's range; the error is built once the literal's
/// full span (including any glued suffix) is known.
type TooLarge = fn(Span) -> SyntaxError;

fn id_too_large(span: Span) -> SyntaxError {
    SyntaxError::IdTooLarge { span }
}

/// An integer literal's magnitude, at most 2^63 (see [`TokenKind::Int`]).
fn int_magnitude(digits: &str, radix: u32) -> Result<TokenKind, TooLarge> {
    match u64::from_str_radix(digits, radix) {
        Ok(v) if v <= 1 << 63 => Ok(TokenKind::Int(v)),
        _ => Err(|span| SyntaxError::IntegerTooLarge { span }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_ok(text: &str) -> Vec<TokenKind> {
        let mut diags = Vec::new();
        let tokens = lex(FileId(0), text, 0, &mut diags);
        assert!(diags.is_empty(), "{text:?}: {diags:?}");
        tokens.into_iter().map(|t| t.kind).collect()
    }

    fn lex_err(text: &str) -> (Vec<TokenKind>, Vec<SyntaxError>) {
        let mut diags = Vec::new();
        let tokens = lex(FileId(0), text, 0, &mut diags);
        (tokens.into_iter().map(|t| t.kind).collect(), diags)
    }

    fn name(s: &str) -> TokenKind {
        TokenKind::Name(s.into())
    }

    fn var(s: &str) -> TokenKind {
        TokenKind::Var(s.into())
    }

    fn p(p: Punct) -> TokenKind {
        TokenKind::Punct(p)
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            lex_ok("succ NI _ _x f_now X1"),
            vec![
                name("succ"),
                var("NI"),
                TokenKind::Wildcard,
                var("_x"),
                name("f_now"),
                var("X1")
            ]
        );
    }

    #[test]
    fn integers() {
        assert_eq!(lex_ok("42"), vec![TokenKind::Int(42)]);
        assert_eq!(lex_ok("0x1f"), vec![TokenKind::Int(31)]);
        assert_eq!(lex_ok("0X1F"), vec![TokenKind::Int(31)]);
        assert_eq!(lex_ok("-7"), vec![p(Punct::Minus), TokenKind::Int(7)]);
        assert_eq!(lex_ok("9223372036854775808"), vec![TokenKind::Int(1 << 63)]);
        let (tokens, diags) = lex_err("9223372036854775809");
        assert_eq!(tokens, vec![TokenKind::Error]);
        assert!(matches!(diags[..], [SyntaxError::IntegerTooLarge { .. }]));
        let (_, diags) = lex_err("0x10000000000000000");
        assert!(matches!(diags[..], [SyntaxError::IntegerTooLarge { .. }]));
    }

    #[test]
    fn ids() {
        assert_eq!(
            lex_ok("0x1I"),
            vec![TokenKind::Id(Id::parse_hex("1").unwrap())]
        );
        assert_eq!(
            lex_ok("0x222222222222222I"),
            vec![TokenKind::Id(Id::parse_hex("222222222222222").unwrap())]
        );
        assert_eq!(
            lex_ok("5I"),
            vec![TokenKind::Id(Id::parse_dec("5").unwrap())]
        );
        let max = format!("0x{}I", "f".repeat(40));
        assert!(matches!(lex_ok(&max)[..], [TokenKind::Id(_)]));
        let (tokens, diags) = lex_err(&format!("0x1{}I", "0".repeat(40)));
        assert_eq!(tokens, vec![TokenKind::Error]);
        assert!(matches!(diags[..], [SyntaxError::IdTooLarge { .. }]));
    }

    #[test]
    fn floats() {
        assert_eq!(lex_ok("0.1"), vec![TokenKind::Float(0.1)]);
        assert_eq!(lex_ok("1e-3"), vec![TokenKind::Float(1e-3)]);
        assert_eq!(lex_ok("2.5E+3"), vec![TokenKind::Float(2500.0)]);
        assert_eq!(lex_ok("3e2"), vec![TokenKind::Float(300.0)]);
    }

    #[test]
    fn dot_after_number_ends_statement() {
        assert_eq!(
            lex_ok("p(1)."),
            vec![
                name("p"),
                p(Punct::LParen),
                TokenKind::Int(1),
                p(Punct::RParen),
                p(Punct::Dot)
            ]
        );
        assert_eq!(lex_ok("1."), vec![TokenKind::Int(1), p(Punct::Dot)]);
        assert_eq!(
            lex_ok("1.e"),
            vec![TokenKind::Int(1), p(Punct::Dot), name("e")]
        );
    }

    #[test]
    fn malformed_numbers() {
        for text in ["12abc", "0x", "0x1g", "1.5I", "1e5x"] {
            let (tokens, diags) = lex_err(text);
            assert_eq!(tokens, vec![TokenKind::Error], "{text}");
            assert!(
                matches!(diags[..], [SyntaxError::InvalidNumber { .. }]),
                "{text}: {diags:?}"
            );
        }
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(lex_ok(r#""NIL""#), vec![TokenKind::Str("NIL".into())]);
        assert_eq!(
            lex_ok(r#""a\"b\\c\nd\te""#),
            vec![TokenKind::Str("a\"b\\c\nd\te".into())]
        );
        assert_eq!(lex_ok(r#""héllo""#), vec![TokenKind::Str("héllo".into())]);
        let (tokens, diags) = lex_err(r#""a\qb""#);
        assert_eq!(tokens, vec![TokenKind::Str("ab".into())]);
        assert!(
            matches!(&diags[..], [SyntaxError::UnknownEscape { escape, .. }] if escape == "\\q")
        );
        let (tokens, diags) = lex_err("\"abc\nx");
        assert_eq!(tokens, vec![TokenKind::Error, name("x")]);
        assert!(matches!(
            diags[..],
            [SyntaxError::UnterminatedString { .. }]
        ));
        let (_, diags) = lex_err("\"abc\\");
        assert!(matches!(
            diags[..],
            [SyntaxError::UnterminatedString { .. }]
        ));
    }

    #[test]
    fn comments() {
        assert_eq!(
            lex_ok("a /* x\n y */ b // c\n d /** doc */ e"),
            vec![name("a"), name("b"), name("d"), name("e")]
        );
        let (tokens, diags) = lex_err("a /* never closed");
        assert_eq!(tokens, vec![name("a")]);
        assert!(matches!(
            diags[..],
            [SyntaxError::UnterminatedComment { .. }]
        ));
    }

    #[test]
    fn punctuation() {
        use Punct::*;
        let all = "( ) [ ] , . @ :- := : < <= > >= == != + - * / % << >> & | ^ && || !";
        let expected = [
            LParen, RParen, LBracket, RBracket, Comma, Dot, At, ColonDash, Assign, Colon, Lt, Le,
            Gt, Ge, EqEq, Ne, Plus, Minus, Star, Slash, Percent, Shl, Shr, Amp, Pipe, Caret,
            AndAnd, OrOr, Bang,
        ];
        assert_eq!(lex_ok(all), expected.map(TokenKind::Punct).to_vec());
        assert_eq!(
            lex_ok("count<*>"),
            vec![name("count"), p(Lt), p(Star), p(Gt)]
        );
    }

    #[test]
    fn bad_characters() {
        let (tokens, diags) = lex_err("a = $ é");
        assert_eq!(
            tokens,
            vec![
                name("a"),
                TokenKind::Error,
                TokenKind::Error,
                TokenKind::Error
            ]
        );
        assert!(matches!(
            diags[..],
            [
                SyntaxError::SingleEquals { .. },
                SyntaxError::UnexpectedChar { ch: '$', .. },
                SyntaxError::UnexpectedChar { ch: 'é', .. }
            ]
        ));
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        assert_eq!(lex_ok("\u{feff}p"), vec![name("p")]);
    }

    #[test]
    fn line_starts_and_spans() {
        let mut diags = Vec::new();
        let tokens = lex(FileId(3), "  #define X /* a\n b */ 1\nfoo", 10, &mut diags);
        let starts: Vec<bool> = tokens.iter().map(|t| t.line_start).collect();
        assert_eq!(starts, vec![true, false, false, false, true]);
        assert_eq!(tokens[0].span, Span::new(FileId(3), 12, 13));
        assert_eq!(tokens[1].span, Span::new(FileId(3), 13, 19));
    }
}
