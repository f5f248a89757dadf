//! COSI `List` (cosi-project/runtime pkg/state/protobuf/server/server.go@v1.14.1, the version Talos v1.13.9
//! vendors; the same at v1.10.7 and v1.12.0 for v1.11.6 and v1.12.11): every resource of (namespace, type),
//! narrowed by the request's options, sent as one `ListResponse` each. The options follow
//! pkg/state/protobuf/server/helpers.go@v1.14.1: an `id_query` regexp (InvalidArgument "failed to compile
//! regexp: ..." when it does not compile) and `label_query` items, any of which may match, each the AND of its
//! terms. The resources the emulator models carry no labels (see [`matches_unlabelled`]).

use tonic::Status;

use super::api::Ctx;
use super::cosi;
use crate::proto::cosi::resource::{label_term::Operation, LabelQuery, ListRequest, Resource};

/// The resources of `q` on the node of `c`, after Talos's access filter (done by the caller).
pub fn list(c: &Ctx, q: &ListRequest) -> Result<Vec<Resource>, Status> {
    let mut items = cosi::resources(c, &q.namespace, &q.r#type)?;
    let Some(options) = &q.options else {
        return Ok(items);
    };
    if let Some(id) = options.id_query.as_ref().filter(|i| !i.regexp.is_empty()) {
        let re = regex::Regex::new(&id.regexp)
            .map_err(|e| Status::invalid_argument(format!("failed to compile regexp: {e}")))?;
        items.retain(|r| {
            re.is_match(
                &r.metadata
                    .as_ref()
                    .map(|m| m.id.clone())
                    .unwrap_or_default(),
            )
        });
    }
    if !options.label_query.is_empty() {
        for query in &options.label_query {
            for term in &query.terms {
                if Operation::try_from(term.op).is_err() {
                    return Err(Status::unimplemented(format!(
                        "unsupported label query operator: {}",
                        term.op
                    )));
                }
            }
        }
        if !options.label_query.iter().any(matches_unlabelled) {
            items.clear();
        }
    }
    Ok(items)
}

/// Whether `query` matches a resource without labels: every term must hold on an absent label
/// (pkg/resource/labels.go@v1.14.1: an absent label fails EXISTS, EQUAL and IN, which `invert` turns into a match;
/// the comparisons fail whatever `invert` says).
fn matches_unlabelled(query: &LabelQuery) -> bool {
    query.terms.iter().all(|t| match Operation::try_from(t.op) {
        #[allow(deprecated)]
        Ok(Operation::NotExists) => true,
        Ok(Operation::Exists | Operation::Equal | Operation::In) => t.invert,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::cosi::resource::LabelTerm;

    fn term(op: Operation, invert: bool) -> LabelTerm {
        LabelTerm {
            key: "k".into(),
            op: op as i32,
            value: vec!["v".into()],
            invert,
        }
    }

    #[test]
    fn label_terms_on_a_resource_without_labels() {
        let q = |terms| LabelQuery { terms };
        assert!(!matches_unlabelled(&q(vec![term(
            Operation::Exists,
            false
        )])));
        assert!(!matches_unlabelled(&q(vec![term(Operation::Equal, false)])));
        assert!(matches_unlabelled(&q(vec![term(Operation::Equal, true)])));
        #[allow(deprecated)]
        let not_exists = term(Operation::NotExists, false);
        assert!(matches_unlabelled(&q(vec![not_exists])));
        assert!(!matches_unlabelled(&q(vec![term(Operation::Lt, true)])));
        assert!(matches_unlabelled(&q(vec![])));
    }
}
