//! `trellis inject ADDR TUPLE`: send one tuple to a running node.

use std::process::ExitCode;
use std::sync::Arc;

use trellis_net::{ClusterKey, Transport};
use trellis_syntax::ParseOptions;
use trellis_value::Value;
use trellis_wire::WireMessage;

use crate::cli::InjectArgs;
use crate::common::{parse_fact, read_key};

pub fn inject(args: &InjectArgs) -> ExitCode {
    let transport = args.transport.net();
    let key: Option<ClusterKey> = match &args.cluster_key {
        Some(path) => match read_key(path) {
            Ok(k) => Some(k),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let options = ParseOptions {
        defines: args
            .defines
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect(),
        node_params: Vec::new(),
    };
    let (relation, tuple) = match parse_fact("inject", &args.tuple, &options, &args.addr) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprint!("{message}");
            return ExitCode::from(2);
        }
    };
    match tuple.first() {
        Some(Value::Str(s)) if **s == *args.addr => {}
        other => {
            let found = other.map_or_else(|| "nothing".to_string(), |v| v.literal());
            eprintln!(
                "error: the tuple's first field (its location) is {found}, but it is sent to {}; write `{relation}(@LOCALADDRESS, ...)` or the same address",
                args.addr
            );
            return ExitCode::from(2);
        }
    }
    let text = tuple_text(&relation, &tuple);
    let message = WireMessage {
        relation: Arc::from(relation.as_str()),
        tuple,
        delete: false,
        derivation: None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sent = runtime.block_on(trellis_net::send_once(
        &args.addr,
        transport,
        key.as_ref(),
        &args.from,
        std::slice::from_ref(&message),
    ));
    match sent {
        Ok(bytes) => {
            eprintln!(
                "sent {text} to {} ({bytes} bytes over {transport}{})",
                args.addr,
                if transport == Transport::Udp {
                    "; delivery is not confirmed"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tuple_text(relation: &str, tuple: &[Value]) -> String {
    let fields: Vec<String> = tuple.iter().map(|v| v.literal()).collect();
    format!("{relation}({})", fields.join(", "))
}
