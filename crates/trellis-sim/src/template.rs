//! Scenario tuple templates (`lookup(@ADDR, RANDID, ADDR, SEQ)`): parsed
//! once, before the run, with the one parser of ground tuples; the
//! simulator fills in `ADDR`, `RANDID`, `SEQ` and `NOW` at each injection.

use trellis_plan::{Plan, RelationKind};
use trellis_syntax::{GroundError, GroundField, SourceMap, parse_ground};
use trellis_value::Value;

use crate::SimError;
use crate::scenario::{Scenario, parse_options};

/// A tuple template from a scenario (`lookup(@ADDR, RANDID, ADDR, SEQ)`).
pub(crate) struct Template {
    pub relation: String,
    pub fields: Vec<TemplateField>,
}

/// A template's field: a constant, or what the simulator fills in when it
/// injects the tuple.
pub(crate) enum TemplateField {
    Value(Value),
    Addr,
    RandId,
    Seq,
    Now,
}

impl Template {
    /// Parse `rel(@ADDR, RANDID, 5, "x")` with the scenario's macros.
    pub(crate) fn parse(text: &str, scenario: &Scenario) -> Result<Template, SimError> {
        let mut options = parse_options(scenario, &[]);
        options.node_params = ["ADDR", "RANDID", "SEQ", "NOW"].map(String::from).to_vec();
        let mut sources = SourceMap::new();
        let bad = |problem: String| SimError::Tuple {
            tuple: text.to_string(),
            problem,
        };
        let constants = "fields must be constants, macros, ADDR, RANDID, SEQ or NOW";
        let tuple = match parse_ground("scenario tuple", text, &options, &mut sources) {
            Ok(tuple) => tuple,
            Err(GroundError::Syntax(errors)) => {
                return Err(SimError::TupleSyntax {
                    tuple: text.to_string(),
                    sources,
                    errors,
                });
            }
            Err(GroundError::NotOneTuple) => {
                return Err(bad(
                    "expected one tuple, such as `lookup(@ADDR, RANDID, ADDR, SEQ)`".into(),
                ));
            }
            Err(GroundError::NotGround { .. }) => return Err(bad(constants.into())),
        };
        let fields = tuple
            .fields
            .into_iter()
            .map(|f| match f {
                GroundField::Value(v) => Ok(TemplateField::Value(v)),
                GroundField::Param(p) => Ok(match p.as_str() {
                    "ADDR" | "LOCALADDRESS" => TemplateField::Addr,
                    "RANDID" => TemplateField::RandId,
                    "SEQ" => TemplateField::Seq,
                    "NOW" => TemplateField::Now,
                    other => return Err(bad(format!("`{other}` has no value here"))),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Template {
            relation: tuple.relation,
            fields,
        })
    }

    /// Check the template against the program before the run: the
    /// relation exists, can be injected and has as many fields, and the
    /// tuple lives at the node it is injected at (its location is `ADDR`).
    /// (Each injection was otherwise refused and only counted.)
    pub(crate) fn check(&self, text: &str, plan: &Plan) -> Result<(), SimError> {
        let bad = |problem: String| SimError::Tuple {
            tuple: text.to_string(),
            problem,
        };
        let Some(id) = plan.lookup(&self.relation) else {
            let closest = plan
                .relations
                .iter()
                .filter(|r| r.kind != RelationKind::Periodic)
                .map(|r| (strsim::levenshtein(&self.relation, &r.name), &r.name))
                .min();
            let hint = match closest {
                Some((d, name)) if d <= 3 => format!(" (did you mean `{name}`?)"),
                _ => String::new(),
            };
            return Err(bad(format!(
                "the program has no relation `{}`{hint}",
                self.relation
            )));
        };
        let r = plan.relation(id);
        if r.kind == RelationKind::Periodic {
            return Err(bad("`periodic` tuples cannot be injected".into()));
        }
        if !r.fits(self.fields.len()) {
            return Err(bad(format!(
                "`{}` has {} fields in the program, the tuple has {}",
                r.name,
                r.arity,
                self.fields.len()
            )));
        }
        if !matches!(self.fields.first(), Some(TemplateField::Addr)) {
            return Err(bad(format!(
                "a tuple lives at the node it is injected at: write `{}(@ADDR, ...)`",
                self.relation
            )));
        }
        Ok(())
    }
}
