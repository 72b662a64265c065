//! Every problem the front end reports: one variant per distinct cause, each
//! with a one-line message, a label at the cause, and a hint that says what
//! to do. Warnings are variants whose severity is `Warning`.

use miette::Diagnostic;
use thiserror::Error;

use crate::diagnostic::SourceDiagnostic;
use crate::source::{FileId, Span};

#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
pub enum SyntaxError {
    // ---- reading files -------------------------------------------------
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(
        code(trellis::syntax::read_file),
        help("check the path and the file's permissions")
    )]
    ReadFile {
        path: String,
        reason: String,
        #[label("while reading this file")]
        span: Span,
    },

    #[error("`{path}` is not UTF-8 text")]
    #[diagnostic(
        code(trellis::syntax::not_utf8),
        help(
            "OverLog programs are text: save the file as UTF-8 (is it the program, or a binary by mistake?)"
        )
    )]
    NotUtf8 {
        path: String,
        #[label("while reading this file")]
        span: Span,
    },

    // ---- lexer -----------------------------------------------------------
    #[error("unterminated string literal")]
    #[diagnostic(
        code(trellis::syntax::unterminated_string),
        help("close the string with `\"` on the same line; write `\\\"` for a quote inside it")
    )]
    UnterminatedString {
        #[label("this string is never closed")]
        span: Span,
    },

    #[error("unterminated block comment")]
    #[diagnostic(
        code(trellis::syntax::unterminated_comment),
        help("close the comment with `*/`")
    )]
    UnterminatedComment {
        #[label("comment starts here")]
        span: Span,
    },

    #[error("unknown escape `{escape}` in a string literal")]
    #[diagnostic(
        code(trellis::syntax::unknown_escape),
        help("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`; write `\\\\` for a backslash")
    )]
    UnknownEscape {
        escape: String,
        #[label("unknown escape")]
        span: Span,
    },

    #[error("integer literal out of range for a 64-bit signed integer")]
    #[diagnostic(
        code(trellis::syntax::integer_too_large),
        help(
            "integers range from -9223372036854775808 to 9223372036854775807; \
             add the suffix `I` for a 160-bit ID (`0x1fI`)"
        )
    )]
    IntegerTooLarge {
        #[label("does not fit in 64 bits")]
        span: Span,
    },

    #[error("ID literal does not fit in 160 bits")]
    #[diagnostic(
        code(trellis::syntax::id_too_large),
        help("IDs range from 0I to 2^160 - 1 (at most 40 hex digits after `0x`)")
    )]
    IdTooLarge {
        #[label("larger than 2^160 - 1")]
        span: Span,
    },

    #[error("invalid number literal `{text}`")]
    #[diagnostic(
        code(trellis::syntax::invalid_number),
        help(
            "write integers as `42` or `0x1f`, IDs as `5I` or `0x1fI`, floats as `0.1` or `1e-3`"
        )
    )]
    InvalidNumber {
        text: String,
        #[label("not a number")]
        span: Span,
    },

    #[error("unexpected character `{ch}`")]
    #[diagnostic(
        code(trellis::syntax::unexpected_char),
        help(
            "remove it: identifiers are ASCII letters, digits and `_`; other text belongs in a string"
        )
    )]
    UnexpectedChar {
        ch: char,
        #[label("not part of OverLog")]
        span: Span,
    },

    #[error("`=` is not an OverLog operator")]
    #[diagnostic(
        code(trellis::syntax::single_equals),
        help("write `==` to compare or `:=` to assign")
    )]
    SingleEquals {
        #[label("here")]
        span: Span,
    },

    // ---- preprocessor ----------------------------------------------------
    #[error("`#` outside a preprocessor directive")]
    #[diagnostic(
        code(trellis::syntax::misplaced_hash),
        help(
            "a directive such as `#define` must be the first thing on its line; the rest of this line is ignored"
        )
    )]
    MisplacedHash {
        #[label("not at the start of a line")]
        span: Span,
    },

    #[error("unknown preprocessor directive `#{name}`")]
    #[diagnostic(
        code(trellis::syntax::unknown_directive),
        help("the directives are #define, #undef, #include, #ifdef, #ifndef, #else and #endif")
    )]
    UnknownDirective {
        name: String,
        #[label("unknown directive")]
        span: Span,
    },

    #[error("`#{directive}` needs a macro name")]
    #[diagnostic(
        code(trellis::syntax::missing_macro_name),
        help("write `#{directive} NAME`, where NAME is an identifier")
    )]
    MissingMacroName {
        directive: String,
        #[label("expected a name here")]
        span: Span,
    },

    #[error("function-like macro `{name}` is not supported")]
    #[diagnostic(
        code(trellis::syntax::function_like_macro),
        help(
            "only object-like macros exist; if the body starts with `(`, put a space after the name"
        )
    )]
    FunctionLikeMacro {
        name: String,
        #[label("`(` right after the name makes a function-like macro")]
        span: Span,
    },

    #[error("`#include` needs a file name in double quotes")]
    #[diagnostic(
        code(trellis::syntax::bad_include),
        help("write `#include \"file.olg\"`, relative to the including file's directory")
    )]
    BadInclude {
        #[label("expected a quoted file name")]
        span: Span,
    },

    #[error("cannot read included file `{path}`: {reason}")]
    #[diagnostic(
        code(trellis::syntax::include_not_found),
        help("#include paths are relative to the directory of the file that includes them")
    )]
    IncludeNotFound {
        path: String,
        reason: String,
        #[label("included here")]
        span: Span,
    },

    #[error("`{path}` includes itself through a cycle of #include")]
    #[diagnostic(
        code(trellis::syntax::include_cycle),
        help("remove one #include of the cycle")
    )]
    IncludeCycle {
        path: String,
        #[label("this #include closes the cycle")]
        span: Span,
    },

    #[error("#include nested more than 64 deep")]
    #[diagnostic(
        code(trellis::syntax::include_too_deep),
        help("flatten the chain of #include")
    )]
    IncludeTooDeep {
        #[label("the 65th nested #include")]
        span: Span,
    },

    #[error("`#{directive}` without a matching `#endif`")]
    #[diagnostic(
        code(trellis::syntax::unterminated_conditional),
        help("add `#endif` at the end of the conditional block, in the same file")
    )]
    UnterminatedConditional {
        directive: String,
        #[label("opened here")]
        span: Span,
    },

    #[error("`#else` without `#ifdef` or `#ifndef`")]
    #[diagnostic(
        code(trellis::syntax::stray_else),
        help("remove it, or open the block with `#ifdef NAME` or `#ifndef NAME`")
    )]
    StrayElse {
        #[label("no open conditional")]
        span: Span,
    },

    #[error("second `#else` in one conditional block")]
    #[diagnostic(
        code(trellis::syntax::duplicate_else),
        help("a block has at most one `#else`; close it with `#endif` first")
    )]
    DuplicateElse {
        #[label("the block already had an `#else`")]
        span: Span,
    },

    #[error("`#endif` without `#ifdef` or `#ifndef`")]
    #[diagnostic(
        code(trellis::syntax::stray_endif),
        help("remove it, or open the block with `#ifdef NAME` or `#ifndef NAME`")
    )]
    StrayEndif {
        #[label("no open conditional")]
        span: Span,
    },

    #[error("expansion of macro `{name}` is too deep or too large")]
    #[diagnostic(
        code(trellis::syntax::macro_expansion_limit),
        help(
            "macros may nest at most 256 deep and expand to at most 100000 tokens; simplify them"
        )
    )]
    MacroExpansionLimit {
        name: String,
        #[label("expanded here")]
        span: Span,
    },

    #[error("extra tokens after `#{directive}` are ignored")]
    #[diagnostic(
        code(trellis::syntax::extra_directive_tokens),
        severity(Warning),
        help("remove them, or make them a comment")
    )]
    ExtraDirectiveTokens {
        directive: String,
        #[label("ignored")]
        span: Span,
    },

    #[error("`-D {name}` is never used by the program")]
    #[diagnostic(
        code(trellis::syntax::unused_define),
        severity(Warning),
        help("check the name's spelling: the program neither uses nor tests `{name}`")
    )]
    UnusedDefine {
        name: String,
        #[label("defined here")]
        span: Span,
    },

    #[error("macro `{name}` redefined")]
    #[diagnostic(
        code(trellis::syntax::macro_redefined),
        severity(Warning),
        help(
            "the new definition replaces the old one; `#undef {name}` first to make that explicit"
        )
    )]
    MacroRedefined {
        name: String,
        #[label("redefined here")]
        span: Span,
    },

    // ---- parser ----------------------------------------------------------
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(trellis::syntax::unexpected_token))]
    UnexpectedToken {
        expected: String,
        found: String,
        /// What to write instead, suited to what was expected.
        #[help]
        hint: String,
        #[label("expected {expected}")]
        span: Span,
    },

    #[error("expected `.` at the end of the statement")]
    #[diagnostic(
        code(trellis::syntax::missing_dot),
        help("end every statement with `.`; separate body elements with `,`")
    )]
    MissingDot {
        #[label("add `.` here")]
        span: Span,
    },

    #[error("rule without a body")]
    #[diagnostic(
        code(trellis::syntax::missing_body),
        help(
            "write `head :- body.`; a statement without `:-` is a fact, which has no rule name or `delete`"
        )
    )]
    MissingBody {
        #[label("expected `:-` and at least one body element")]
        span: Span,
    },

    #[error("unclosed `(`: expected `,` or `)`, found {found}")]
    #[diagnostic(
        code(trellis::syntax::unclosed_delimiter),
        help("close the list with `)`, or separate its elements with `,`")
    )]
    UnclosedDelimiter {
        found: String,
        #[label("expected `,` or `)` here")]
        span: Span,
        /// `None` when the opening bracket is in another file.
        #[label("`(` opened here")]
        open_span: Option<Span>,
    },

    #[error("unmatched `{close}`")]
    #[diagnostic(
        code(trellis::syntax::unmatched_close),
        help("remove it, or add the matching opening bracket")
    )]
    UnmatchedClose {
        close: char,
        #[label("nothing to close")]
        span: Span,
    },

    #[error("an expression cannot be an argument of a body predicate")]
    #[diagnostic(
        code(trellis::syntax::expression_in_body_atom),
        help(
            "body predicates take variables, constants and `_`; bind the expression first \
             (`V := <expression>`) and pass `V`"
        )
    )]
    ExpressionInBodyAtom {
        #[label("an expression")]
        span: Span,
    },

    #[error("an aggregate is only allowed as a field of a rule head")]
    #[diagnostic(
        code(trellis::syntax::aggregate_outside_head),
        help("move the aggregate into the head, e.g. `best(@N, min<D>) :- dist(@N, D).`")
    )]
    AggregateOutsideHead {
        #[label("aggregate here")]
        span: Span,
    },

    #[error("an aggregate must be a whole head field, not part of an expression")]
    #[diagnostic(
        code(trellis::syntax::aggregate_in_expression),
        help(
            "aggregate in one rule (`r(@N, sum<X>)`), then compute with the result in a rule \
             that reads `r`"
        )
    )]
    AggregateInExpression {
        #[label("aggregate inside an expression")]
        span: Span,
    },

    #[error("`{aggregate}<*>`: only `count` can take `*`")]
    #[diagnostic(
        code(trellis::syntax::star_outside_count),
        help("write `count<*>` to count rows, or `{aggregate}<X>` with a variable")
    )]
    StarOutsideCount {
        aggregate: String,
        #[label("`*` is only valid in `count<*>`")]
        span: Span,
    },

    #[error("an aggregate takes a variable or `*`, found {found}")]
    #[diagnostic(
        code(trellis::syntax::bad_aggregate_argument),
        help("write `min<X>`, `max<X>`, `sum<X>`, `avg<X>`, `count<X>` or `count<*>`")
    )]
    BadAggregateArgument {
        found: String,
        #[label("expected a variable or `*`")]
        span: Span,
    },

    #[error("facts must be ground; `{name}` is not a defined macro")]
    #[diagnostic(
        code(trellis::syntax::variable_in_fact),
        help(
            "define it in the program (`#define {name} value`) or on the command line \
             (`-D {name}=value`), or write a constant"
        )
    )]
    VariableInFact {
        name: String,
        #[label("a variable")]
        span: Span,
    },

    #[error("a fact field must be a constant")]
    #[diagnostic(
        code(trellis::syntax::non_constant_in_fact),
        help("facts hold literals and macros only; compute values in a rule instead")
    )]
    NonConstantInFact {
        #[label("not a constant")]
        span: Span,
    },

    #[error("`{word}` is reserved for a future extension")]
    #[diagnostic(
        code(trellis::syntax::reserved_word),
        help(
            "`channel` is a statement, and choose, objective, durable and invariant are kept for coming extensions: none can name a relation; rename it"
        )
    )]
    ReservedWord {
        word: String,
        #[label("reserved")]
        span: Span,
    },

    #[error("`{name}` cannot name a relation")]
    #[diagnostic(
        code(trellis::syntax::invalid_relation_name),
        help(
            "relation names start with a lower-case letter and not with `f_` (upper-case \
             names are variables, `f_` names are functions)"
        )
    )]
    InvalidRelationName {
        name: String,
        #[label("not a relation name")]
        span: Span,
    },

    #[error("the location `@{location}` differs from the first argument `{first}`")]
    #[diagnostic(
        code(trellis::syntax::location_mismatch),
        help("in `p@X(X, ...)` the first argument repeats the location; or write `p(@X, ...)`")
    )]
    LocationMismatch {
        location: String,
        first: String,
        #[label("expected `{location}` here")]
        span: Span,
        /// `None` when the location is in another file.
        #[label("location written here")]
        location_span: Option<Span>,
    },

    #[error("`@` marks the location, which is the first argument")]
    #[diagnostic(
        code(trellis::syntax::misplaced_at),
        help("remove this `@`; write `p(@L, X, ...)` with `@` on the first argument only")
    )]
    MisplacedAt {
        #[label("not the first argument")]
        span: Span,
    },

    #[error("`{relation}()` has no arguments")]
    #[diagnostic(
        code(trellis::syntax::empty_atom),
        help("the first argument is the location: write `{relation}(@L, ...)`")
    )]
    EmptyAtom {
        relation: String,
        #[label("expected at least the location")]
        span: Span,
    },

    #[error("a table's lifetime must be a number of seconds or `infinity`")]
    #[diagnostic(
        code(trellis::syntax::bad_lifetime),
        help("write `materialize(name, 30, 100, keys(1))` or `materialize(name, infinity, ...)`")
    )]
    BadLifetime {
        #[label("expected seconds or `infinity`")]
        span: Span,
    },

    #[error("a table's size bound must be an integer or `infinity`")]
    #[diagnostic(
        code(trellis::syntax::bad_max_size),
        help(
            "write `materialize(name, 30, 100, keys(1))` or `materialize(name, 30, infinity, ...)`"
        )
    )]
    BadMaxSize {
        #[label("expected a count or `infinity`")]
        span: Span,
    },

    #[error("a table's keys must be written `keys(...)` with field positions")]
    #[diagnostic(
        code(trellis::syntax::bad_keys),
        help("write `keys(1, 2)`: 1-based field positions, optionally typed as `2:int32`")
    )]
    BadKeys {
        #[label("expected `keys(...)` or a field position")]
        span: Span,
    },

    #[error("unknown watchmod letter `{letter}`; known letters are i r d c p a z s b j h e")]
    #[diagnostic(
        code(trellis::syntax::unknown_watchmod_letter),
        severity(Warning),
        help(
            "i inserted, r refreshed, d deleted, c received, p periodic fired, a about to insert, \
             z about to delete, s sent, b before join, j after join, h head derived, e event; \
             the unknown letter is ignored"
        )
    )]
    UnknownWatchmodLetter {
        letter: char,
        #[label("unknown letter")]
        span: Span,
    },

    #[error("unknown channel `{name}`")]
    #[diagnostic(
        code(trellis::syntax::unknown_channel),
        help(
            "a relation's channel is `udp` (unreliable: may lose, duplicate, reorder) or \
             `tcp` (reliable and in order while a connection is up)"
        )
    )]
    UnknownChannel {
        name: String,
        #[label("not a channel")]
        span: Span,
    },

    #[error("unknown lattice `{name}`")]
    #[diagnostic(
        code(trellis::syntax::unknown_lattice),
        help(
            "a lattice column merges by `max`, `min`, `bool` (or), `set` (union), \
             `map(L)` (key by key, values by the lattice L), `gcounter` or `pncounter`"
        )
    )]
    UnknownLattice {
        name: String,
        #[label("not a lattice")]
        span: Span,
    },

    #[error("lattice nested too deeply")]
    #[diagnostic(
        code(trellis::syntax::lattice_too_deep),
        help(
            "a `map` lattice may hold at most 15 levels of `map(...)`: each level \
             is two levels of lists, and values nest at most 32"
        )
    )]
    LatticeTooDeep {
        #[label("too deep here")]
        span: Span,
    },

    #[error("unknown semantics `{name}`")]
    #[diagnostic(
        code(trellis::syntax::unknown_semantics),
        help(
            "a program runs in `tick` semantics (the default) or in `p2`, P2's \
             event-at-a-time execution: `semantics(p2).`"
        )
    )]
    UnknownSemantics {
        name: String,
        #[label("not a semantics")]
        span: Span,
    },

    #[error("expression nested too deeply")]
    #[diagnostic(
        code(trellis::syntax::nesting_too_deep),
        help(
            "expressions may nest at most 256 levels (each operator of a chain counts); \
             split it with `:=` assignments"
        )
    )]
    NestingTooDeep {
        #[label("too deep here")]
        span: Span,
    },
}

impl SyntaxError {
    /// An unexpected token, with a hint suited to what was expected.
    pub(crate) fn unexpected(expected: &str, found: String, span: Span) -> SyntaxError {
        let hint = match expected {
            "an expression" => "an expression is a constant, a variable, `f_name(...)`, or built \
                                with operators: `X + 1`, `A == B`, `K in (A, B]`"
                .to_string(),
            "a relation name" => "a statement is `materialize(...)`, `watch(...)`, \
                                  `trace(...)`, a fact `name(...)` or a rule \
                                  `[ruleName] head :- body`"
                .to_string(),
            "`:-`" => "a rule is `[ruleName] [delete] head :- body.`".to_string(),
            "`,` or `.`" => "separate body elements with `,` and end the rule with `.`".to_string(),
            "`.` or `:-`" => "end a fact with `.`, or continue a rule with `:- body.`".to_string(),
            _ => format!("write {expected} here"),
        };
        SyntaxError::UnexpectedToken {
            expected: expected.to_string(),
            found,
            hint,
            span,
        }
    }

    /// Where the problem is: the primary label's span.
    pub fn span(&self) -> Span {
        use SyntaxError::*;
        match self {
            ReadFile { span, .. }
            | NotUtf8 { span, .. }
            | UnterminatedString { span }
            | UnterminatedComment { span }
            | UnknownEscape { span, .. }
            | IntegerTooLarge { span }
            | IdTooLarge { span }
            | InvalidNumber { span, .. }
            | UnexpectedChar { span, .. }
            | SingleEquals { span }
            | MisplacedHash { span }
            | UnknownDirective { span, .. }
            | MissingMacroName { span, .. }
            | FunctionLikeMacro { span, .. }
            | BadInclude { span }
            | IncludeNotFound { span, .. }
            | IncludeCycle { span, .. }
            | IncludeTooDeep { span }
            | UnterminatedConditional { span, .. }
            | StrayElse { span }
            | DuplicateElse { span }
            | StrayEndif { span }
            | MacroExpansionLimit { span, .. }
            | ExtraDirectiveTokens { span, .. }
            | MacroRedefined { span, .. }
            | UnusedDefine { span, .. }
            | UnexpectedToken { span, .. }
            | MissingDot { span }
            | MissingBody { span }
            | UnclosedDelimiter { span, .. }
            | UnmatchedClose { span, .. }
            | ExpressionInBodyAtom { span }
            | AggregateOutsideHead { span }
            | AggregateInExpression { span }
            | StarOutsideCount { span, .. }
            | BadAggregateArgument { span, .. }
            | VariableInFact { span, .. }
            | NonConstantInFact { span }
            | ReservedWord { span, .. }
            | InvalidRelationName { span, .. }
            | LocationMismatch { span, .. }
            | MisplacedAt { span }
            | EmptyAtom { span, .. }
            | BadLifetime { span }
            | BadMaxSize { span }
            | BadKeys { span }
            | UnknownWatchmodLetter { span, .. }
            | UnknownChannel { span, .. }
            | UnknownLattice { span, .. }
            | LatticeTooDeep { span }
            | UnknownSemantics { span, .. }
            | NestingTooDeep { span } => *span,
        }
    }

    /// Whether this is a warning (reported, but the program still compiles).
    pub fn is_warning(&self) -> bool {
        self.severity() == Some(miette::Severity::Warning)
    }
}

impl SourceDiagnostic for SyntaxError {
    fn file(&self) -> FileId {
        self.span().file
    }
}
