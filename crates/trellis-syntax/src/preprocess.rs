//! The preprocessor. P2 ran OverLog through cpp; this does the part of cpp
//! that OverLog programs use, on tokens rather than text, so that every token
//! keeps a span into the user's file: object-like `#define`, `#undef`,
//! `#include "file"`, `#ifdef` / `#ifndef` / `#else` / `#endif`, `-D`
//! overrides, and per-node parameters such as `LOCALADDRESS`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::SyntaxError;
use crate::lexer::{self, Punct, Token, TokenKind};
use crate::source::{FileId, SourceMap, Span};

/// How to preprocess and parse a program.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `-D NAME=VALUE` definitions; they override the file's `#define`s.
    pub defines: Vec<(String, String)>,
    /// Names that become `ExprKind::NodeParam` (resolved per node by the
    /// engine) unless the program or `-D` defines them. `LOCALADDRESS` is
    /// always one.
    pub node_params: Vec<String>,
}

/// The parameter every node resolves to its own address.
const LOCALADDRESS: &str = "LOCALADDRESS";
const MAX_INCLUDE_DEPTH: usize = 64;
/// The largest file `#include` reads, in bytes (4 MiB).
pub const MAX_INCLUDE_BYTES: u64 = 4 * 1024 * 1024;
/// Bounds on macro expansion, so a hostile file cannot exhaust the stack or
/// memory (`#define A B B`, `#define B C C`, ... doubles at every level).
const MAX_EXPANSION_DEPTH: usize = 256;
const MAX_EXPANSION_TOKENS: usize = 100_000;

/// The root file's place: its directory (for `#include`) and, when it came
/// from disk, its canonical path (for include cycles).
pub(crate) struct Root<'p> {
    pub file: FileId,
    pub dir: &'p Path,
    pub canonical: Option<PathBuf>,
}

/// Expand the root file into the parser's token stream, ending with `Eof`.
pub(crate) fn preprocess(
    root: Root<'_>,
    options: &ParseOptions,
    sources: &mut SourceMap,
    diags: &mut Vec<SyntaxError>,
) -> Vec<Token> {
    let (command_line, names) = command_line_macros(options, sources, diags);
    let mut node_params: HashSet<String> = options.node_params.iter().cloned().collect();
    node_params.insert(LOCALADDRESS.to_string());
    let mut pp = Preprocessor {
        sources,
        diags,
        command_line,
        used: HashSet::new(),
        macros: HashMap::new(),
        node_params,
        include_stack: root.canonical.into_iter().collect(),
        include_depth: 0,
        out: Vec::new(),
        budget: 0,
    };
    pp.file(root.file, root.dir);
    // A `-D` the program never mentions is most likely misspelt. Node
    // parameters are exempt: runners give them to every node, used or not.
    let mut reported = HashSet::new();
    for (name, span) in names.into_iter().rev() {
        if !pp.used.contains(&name)
            && !pp.node_params.contains(&name)
            && reported.insert(name.clone())
        {
            pp.diags.push(SyntaxError::UnusedDefine { name, span });
        }
    }
    let end = pp.sources.get(root.file).text.len();
    pp.out.push(Token {
        kind: TokenKind::Eof,
        span: Span::new(root.file, end, end),
        line_start: true,
    });
    pp.out
}

/// Lex every `-D` value from one synthetic `<command line>` file holding
/// `NAME=VALUE` lines, so that a lexical error in a value points at it.
/// Also returns each name with its span there, in order.
#[allow(clippy::type_complexity)]
fn command_line_macros(
    options: &ParseOptions,
    sources: &mut SourceMap,
    diags: &mut Vec<SyntaxError>,
) -> (HashMap<String, Vec<TokenKind>>, Vec<(String, Span)>) {
    let mut macros = HashMap::new();
    let mut names = Vec::new();
    if options.defines.is_empty() {
        return (macros, names);
    }
    let mut text = String::new();
    let mut values = Vec::new();
    for (name, value) in &options.defines {
        text.push_str(name);
        text.push('=');
        values.push((name, text.len(), text.len() + value.len()));
        text.push_str(value);
        text.push('\n');
    }
    let file = sources.add("<command line>", text.as_str());
    for (name, start, end) in values {
        let tokens = lexer::lex(file, &text[start..end], start, diags);
        macros.insert(name.clone(), tokens.into_iter().map(|t| t.kind).collect());
        let name_start = start - 1 - name.len();
        names.push((name.clone(), Span::new(file, name_start, start - 1)));
    }
    (macros, names)
}

/// One open `#ifdef`/`#ifndef` block.
struct Conditional {
    directive: &'static str,
    span: Span,
    /// Whether the branch being read is taken.
    taking: bool,
    seen_else: bool,
}

struct Preprocessor<'a> {
    sources: &'a mut SourceMap,
    diags: &'a mut Vec<SyntaxError>,
    /// `-D` definitions; they win over `#define`.
    command_line: HashMap<String, Vec<TokenKind>>,
    /// The `-D` names the program mentions (uses, tests or `#define`s).
    used: HashSet<String>,
    /// `#define`s: name to body.
    macros: HashMap<String, Vec<TokenKind>>,
    node_params: HashSet<String>,
    /// Canonical paths of the files being read (those from disk), outermost
    /// first.
    include_stack: Vec<PathBuf>,
    /// How many `#include`s deep the file being read is.
    include_depth: usize,
    out: Vec<Token>,
    /// Tokens produced by the current top-level macro use.
    budget: usize,
}

/// The name of an identifier token, the only kind macros apply to.
fn ident(kind: &TokenKind) -> Option<&str> {
    match kind {
        TokenKind::Name(n) | TokenKind::Var(n) => Some(n),
        _ => None,
    }
}

impl Preprocessor<'_> {
    fn file(&mut self, file: FileId, dir: &Path) {
        let text = self.sources.get(file).text.clone();
        let tokens = lexer::lex(file, &text, 0, self.diags);
        let mut conditionals = Vec::new();
        let mut i = 0;
        while let Some(token) = tokens.get(i) {
            let active = conditionals.iter().all(|c: &Conditional| c.taking);
            if token.kind == TokenKind::Hash {
                let end = tokens[i + 1..]
                    .iter()
                    .position(|t| t.line_start)
                    .map_or(tokens.len(), |n| i + 1 + n);
                if token.line_start {
                    let line = &tokens[i + 1..end];
                    self.directive(token.span, line, &mut conditionals, active, dir);
                } else if active {
                    // Most likely a directive that lost its line break: drop
                    // the rest of the line rather than parse it as OverLog.
                    self.diags
                        .push(SyntaxError::MisplacedHash { span: token.span });
                }
                i = end;
                continue;
            }
            if active {
                self.expand_use(token);
            }
            i += 1;
        }
        for c in conditionals {
            self.diags.push(SyntaxError::UnterminatedConditional {
                directive: c.directive.to_string(),
                span: c.span,
            });
        }
    }

    /// One directive line: `hash` is the `#`, `line` the tokens after it.
    fn directive(
        &mut self,
        hash: Span,
        line: &[Token],
        conditionals: &mut Vec<Conditional>,
        active: bool,
        dir: &Path,
    ) {
        // `#` alone on a line is cpp's null directive.
        let Some(first) = line.first() else {
            return;
        };
        let span = hash.to(first.span);
        let name = match &first.kind {
            TokenKind::Name(n) => n.as_str(),
            _ if !active => return,
            other => {
                self.diags.push(SyntaxError::UnknownDirective {
                    name: other.to_string().trim_matches('`').to_string(),
                    span,
                });
                return;
            }
        };
        let args = &line[1..];
        match name {
            "ifdef" | "ifndef" => {
                let directive = if name == "ifdef" { "ifdef" } else { "ifndef" };
                let taking = match self.macro_name(directive, span, args, active) {
                    Some(n) => self.is_defined(n) == (directive == "ifdef"),
                    None => false,
                };
                conditionals.push(Conditional {
                    directive,
                    span,
                    taking,
                    seen_else: false,
                });
            }
            // Only so that nesting stays right inside a skipped block.
            "if" if !active => conditionals.push(Conditional {
                directive: "if",
                span,
                taking: false,
                seen_else: false,
            }),
            "else" => match conditionals.last_mut() {
                None => self.diags.push(SyntaxError::StrayElse { span }),
                Some(c) if c.seen_else => self.diags.push(SyntaxError::DuplicateElse { span }),
                Some(c) => {
                    c.seen_else = true;
                    c.taking = !c.taking;
                    self.extra_tokens("else", args);
                }
            },
            "endif" => {
                if conditionals.pop().is_some() {
                    self.extra_tokens("endif", args);
                } else {
                    self.diags.push(SyntaxError::StrayEndif { span });
                }
            }
            _ if !active => {}
            "define" => self.define(span, args),
            "undef" => {
                if let Some(n) = self.macro_name("undef", span, args, true) {
                    self.macros.remove(n);
                }
            }
            "include" => self.include(span, args, dir),
            _ => self.diags.push(SyntaxError::UnknownDirective {
                name: name.to_string(),
                span,
            }),
        }
    }

    fn is_defined(&mut self, name: &str) -> bool {
        if self.command_line.contains_key(name) {
            self.used.insert(name.to_string());
            return true;
        }
        self.macros.contains_key(name)
    }

    /// The identifier a directive names, reporting anything else (and extra
    /// tokens) when `report` (outside skipped blocks).
    fn macro_name<'t>(
        &mut self,
        directive: &str,
        span: Span,
        args: &'t [Token],
        report: bool,
    ) -> Option<&'t str> {
        let name = args.first().and_then(|t| ident(&t.kind));
        if report {
            if name.is_none() {
                self.diags.push(SyntaxError::MissingMacroName {
                    directive: directive.to_string(),
                    span: args.first().map_or(span, |t| t.span),
                });
            } else {
                self.extra_tokens(directive, args.get(1..).unwrap_or_default());
            }
        }
        name
    }

    fn extra_tokens(&mut self, directive: &str, extra: &[Token]) {
        if let (Some(first), Some(last)) = (extra.first(), extra.last()) {
            self.diags.push(SyntaxError::ExtraDirectiveTokens {
                directive: directive.to_string(),
                span: first.span.to(last.span),
            });
        }
    }

    fn define(&mut self, span: Span, args: &[Token]) {
        let Some(name_token) = args.first() else {
            self.diags.push(SyntaxError::MissingMacroName {
                directive: "define".to_string(),
                span,
            });
            return;
        };
        let Some(name) = ident(&name_token.kind) else {
            self.diags.push(SyntaxError::MissingMacroName {
                directive: "define".to_string(),
                span: name_token.span,
            });
            return;
        };
        let body = &args[1..];
        if let Some(paren) = body.first()
            && paren.is(Punct::LParen)
            && paren.span.file == name_token.span.file
            && paren.span.start == name_token.span.end
        {
            self.diags.push(SyntaxError::FunctionLikeMacro {
                name: name.to_string(),
                span: name_token.span.to(paren.span),
            });
            return;
        }
        if self.command_line.contains_key(name) {
            self.used.insert(name.to_string());
            return;
        }
        let body: Vec<TokenKind> = body.iter().map(|t| t.kind.clone()).collect();
        if self.macros.get(name).is_some_and(|old| *old != body) {
            self.diags.push(SyntaxError::MacroRedefined {
                name: name.to_string(),
                span: name_token.span,
            });
        }
        self.macros.insert(name.to_string(), body);
    }

    fn include(&mut self, span: Span, args: &[Token], dir: &Path) {
        let Some(Token {
            kind: TokenKind::Str(relative),
            span: path_span,
            ..
        }) = args.first()
        else {
            self.diags.push(SyntaxError::BadInclude {
                span: args.first().map_or(span, |t| t.span),
            });
            return;
        };
        let path_span = *path_span;
        self.extra_tokens("include", &args[1..]);
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            self.diags
                .push(SyntaxError::IncludeTooDeep { span: path_span });
            return;
        }
        let path = dir.join(relative);
        let shown = path.display().to_string();
        let (text, canonical) = match read_include(&path) {
            Ok(found) => found,
            Err(reason) => {
                self.diags.push(SyntaxError::IncludeNotFound {
                    path: shown,
                    reason,
                    span: path_span,
                });
                return;
            }
        };
        if self.include_stack.contains(&canonical) {
            self.diags.push(SyntaxError::IncludeCycle {
                path: shown,
                span: path_span,
            });
            return;
        }
        let file = self.sources.add(shown, text);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.include_stack.push(canonical);
        self.include_depth += 1;
        self.file(file, &dir);
        self.include_depth -= 1;
        self.include_stack.pop();
    }

    /// Emit one token of the file, expanding it if it names a macro. The
    /// expansion takes the use site's span.
    fn expand_use(&mut self, token: &Token) {
        let first = self.out.len();
        self.budget = 0;
        self.expand(&token.kind, token, &mut Vec::new());
        if let Some(t) = self.out.get_mut(first) {
            t.line_start = token.line_start;
        }
    }

    /// `active` holds the macros being expanded: a macro is never re-expanded
    /// inside its own expansion (as in cpp), which also ends recursion.
    fn expand(&mut self, kind: &TokenKind, site: &Token, active: &mut Vec<String>) {
        if self.budget > MAX_EXPANSION_TOKENS {
            return;
        }
        if let Some(name) = ident(kind)
            && !active.iter().any(|a| a == name)
        {
            if self.command_line.contains_key(name) {
                self.used.insert(name.to_string());
            }
            let body = self
                .command_line
                .get(name)
                .or_else(|| self.macros.get(name));
            if let Some(body) = body {
                if active.len() >= MAX_EXPANSION_DEPTH
                    || self.budget + body.len() > MAX_EXPANSION_TOKENS
                {
                    self.diags.push(SyntaxError::MacroExpansionLimit {
                        name: name.to_string(),
                        span: site.span,
                    });
                    // Abandon the rest of this use.
                    self.budget = MAX_EXPANSION_TOKENS + 1;
                    return;
                }
                self.budget += body.len();
                let body = body.clone();
                active.push(name.to_string());
                for k in &body {
                    self.expand(k, site, active);
                }
                active.pop();
                return;
            }
            if self.node_params.contains(name) {
                self.push(TokenKind::NodeParam(name.to_string()), site.span);
                return;
            }
        }
        self.push(kind.clone(), site.span);
    }

    fn push(&mut self, kind: TokenKind, span: Span) {
        self.out.push(Token {
            kind,
            span,
            line_start: false,
        });
    }
}

/// Read a file for `#include`: a regular file (not a device, FIFO or
/// directory) of at most [`MAX_INCLUDE_BYTES`], holding UTF-8 text without
/// NUL bytes. The reason it is refused never quotes its contents.
fn read_include(path: &Path) -> Result<(String, PathBuf), String> {
    use std::io::Read;
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            let text = e.to_string();
            match text.find(" (os error ") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    };
    let not_regular = |kind: std::fs::FileType| {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "a device, FIFO or socket"
        };
        format!("not a regular file ({what}); #include reads only regular files")
    };
    let too_large = || format!("larger than the limit of {MAX_INCLUDE_BYTES} bytes (4 MiB)");
    // Look before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    if meta.len() > MAX_INCLUDE_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_INCLUDE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INCLUDE_BYTES {
        return Err(too_large());
    }
    if bytes.contains(&0) {
        return Err("not a program text (it contains NUL bytes)".to_string());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| "not a program text (it is not valid UTF-8)".to_string())?;
    let canonical = path.canonicalize().map_err(io)?;
    Ok((text, canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, options: &ParseOptions) -> (Vec<TokenKind>, Vec<SyntaxError>, SourceMap) {
        let mut sources = SourceMap::new();
        let file = sources.add("test.olg", text);
        let mut diags = Vec::new();
        let root = Root {
            file,
            dir: Path::new(""),
            canonical: None,
        };
        let tokens = preprocess(root, options, &mut sources, &mut diags);
        let kinds = tokens.into_iter().map(|t| t.kind).collect();
        (kinds, diags, sources)
    }

    fn kinds(text: &str) -> Vec<TokenKind> {
        let (kinds, diags, _) = run(text, &ParseOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        kinds
    }

    fn name(s: &str) -> TokenKind {
        TokenKind::Name(s.into())
    }

    #[test]
    fn define_substitutes_whole_identifiers() {
        assert_eq!(
            kinds("#define NIL \"NIL\"\nNIL NILS nil"),
            vec![
                TokenKind::Str("NIL".into()),
                TokenKind::Var("NILS".into()),
                name("nil"),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn expansion_is_recursive_but_not_self_referential() {
        assert_eq!(
            kinds("#define A B + A\n#define B 1\nA"),
            vec![
                TokenKind::Int(1),
                TokenKind::Punct(Punct::Plus),
                TokenKind::Var("A".into()),
                TokenKind::Eof
            ]
        );
        // Mutual recursion stops too.
        assert_eq!(
            kinds("#define X Y\n#define Y X\nX"),
            vec![TokenKind::Var("X".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn empty_define_and_undef() {
        assert_eq!(
            kinds("#define E\na E b"),
            vec![name("a"), name("b"), TokenKind::Eof]
        );
        assert_eq!(
            kinds("#define E 1\n#undef E\nE"),
            vec![TokenKind::Var("E".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn expansion_takes_the_use_site_span() {
        let mut sources = SourceMap::new();
        let file = sources.add("t.olg", "#define P 1 + 2\nx P");
        let mut diags = Vec::new();
        let root = Root {
            file,
            dir: Path::new(""),
            canonical: None,
        };
        let tokens = preprocess(root, &ParseOptions::default(), &mut sources, &mut diags);
        let use_site = Span::new(file, 18, 19);
        assert_eq!(
            tokens[1..4].iter().map(|t| t.span).collect::<Vec<_>>(),
            vec![use_site; 3]
        );
    }

    #[test]
    fn node_params() {
        let options = ParseOptions {
            defines: vec![],
            node_params: vec!["NODEID".into()],
        };
        let (params, diags, _) = run("LOCALADDRESS NODEID OTHER", &options);
        assert!(diags.is_empty());
        assert_eq!(
            params,
            vec![
                TokenKind::NodeParam("LOCALADDRESS".into()),
                TokenKind::NodeParam("NODEID".into()),
                TokenKind::Var("OTHER".into()),
                TokenKind::Eof
            ]
        );
        // A definition in the file wins over the parameter.
        assert_eq!(
            kinds("#define LOCALADDRESS \"a:1\"\nLOCALADDRESS"),
            vec![TokenKind::Str("a:1".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn command_line_overrides_file() {
        let options = ParseOptions {
            defines: vec![
                ("N".into(), "2".into()),
                ("L".into(), "\"host:port\"".into()),
            ],
            node_params: vec![],
        };
        let (kinds, diags, sources) = run("#define N 1\nN L", &options);
        assert!(diags.is_empty());
        assert_eq!(
            kinds,
            vec![
                TokenKind::Int(2),
                TokenKind::Str("host:port".into()),
                TokenKind::Eof
            ]
        );
        assert_eq!(sources.get(FileId(1)).name, "<command line>");
    }

    #[test]
    fn unused_command_line_defines_warn() {
        let options = ParseOptions {
            defines: vec![
                ("USED".into(), "1".into()),
                ("TESTED".into(), "1".into()),
                ("OVERRIDES".into(), "1".into()),
                ("NOSUCH".into(), "8".into()),
                ("NODEID".into(), "1".into()),
            ],
            node_params: vec!["NODEID".into()],
        };
        let (_, diags, sources) = run(
            "#define OVERRIDES 2
#ifdef TESTED
#endif
USED",
            &options,
        );
        // NODEID is a node parameter: runners define it whether used or not.
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(matches!(&diags[0], SyntaxError::UnusedDefine { name, .. } if name == "NOSUCH"));
        assert!(diags[0].is_warning());
        assert_eq!(sources.snippet(diags[0].span()), "NOSUCH");
    }

    #[test]
    fn command_line_lex_errors_point_at_the_command_line() {
        let options = ParseOptions {
            defines: vec![("L".into(), "\"open".into())],
            node_params: vec![],
        };
        let (_, diags, sources) = run("L", &options);
        assert_eq!(diags.len(), 1);
        let span = diags[0].span();
        assert_eq!(sources.get(span.file).name, "<command line>");
        assert_eq!(sources.snippet(span), "\"open");
    }

    #[test]
    fn conditionals_nest() {
        let text = "#define A\n\
                    #ifdef A\n a1\n #ifndef B\n b1\n #else\n b2\n #endif\n\
                    #else\n a2\n #ifdef A\n no\n #endif\n#endif\n\
                    #ifndef A\n c1\n#else\n c2\n#endif\n";
        assert_eq!(
            kinds(text),
            vec![name("a1"), name("b1"), name("c2"), TokenKind::Eof]
        );
    }

    #[test]
    fn skipped_blocks_ignore_other_directives() {
        assert_eq!(
            kinds("#ifdef X\n#bogus\n#define Y 1\n#if 0\n#endif\n#endif\nY"),
            vec![TokenKind::Var("Y".into()), TokenKind::Eof]
        );
    }

    #[test]
    fn conditional_errors() {
        let (_, diags, _) = run("#ifdef A\nx", &ParseOptions::default());
        assert!(matches!(
            diags[..],
            [SyntaxError::UnterminatedConditional { .. }]
        ));
        let (_, diags, _) = run("#endif\n#else\n", &ParseOptions::default());
        assert!(matches!(
            diags[..],
            [
                SyntaxError::StrayEndif { .. },
                SyntaxError::StrayElse { .. }
            ]
        ));
        let (_, diags, _) = run("#ifdef A\n#else\n#else\n#endif", &ParseOptions::default());
        assert!(matches!(diags[..], [SyntaxError::DuplicateElse { .. }]));
    }

    #[test]
    fn directive_errors() {
        let (output, diags, _) = run(
            "#pragma once\n#define\n#define F(x) x\na # b\nc",
            &ParseOptions::default(),
        );
        assert_eq!(output, vec![name("a"), name("c"), TokenKind::Eof]);
        assert!(matches!(
            diags[..],
            [
                SyntaxError::UnknownDirective { .. },
                SyntaxError::MissingMacroName { .. },
                SyntaxError::FunctionLikeMacro { .. },
                SyntaxError::MisplacedHash { .. }
            ]
        ));
        // A space makes it object-like.
        assert_eq!(
            kinds("#define F (1)\nF"),
            vec![
                TokenKind::Punct(Punct::LParen),
                TokenKind::Int(1),
                TokenKind::Punct(Punct::RParen),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn redefinition_warns_and_extra_tokens_warn() {
        let (kinds, diags, _) = run(
            "#define A 1\n#define A 2\n#ifdef A B\n#endif\nA",
            &ParseOptions::default(),
        );
        assert!(matches!(
            diags[..],
            [
                SyntaxError::MacroRedefined { .. },
                SyntaxError::ExtraDirectiveTokens { .. }
            ]
        ));
        assert!(diags.iter().all(SyntaxError::is_warning));
        assert_eq!(kinds, vec![TokenKind::Int(2), TokenKind::Eof]);
    }

    #[test]
    fn exponential_expansion_is_bounded() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("#define M{i} M{} M{}\n", i + 1, i + 1));
        }
        text.push_str("M0\n");
        let (_, diags, _) = run(&text, &ParseOptions::default());
        assert!(matches!(
            diags[..],
            [SyntaxError::MacroExpansionLimit { .. }]
        ));
    }

    #[test]
    fn deep_expansion_is_bounded() {
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("#define M{i} M{}\n", i + 1));
        }
        text.push_str("M0\n");
        let (_, diags, _) = run(&text, &ParseOptions::default());
        assert!(matches!(
            diags[..],
            [SyntaxError::MacroExpansionLimit { .. }]
        ));
    }
}
