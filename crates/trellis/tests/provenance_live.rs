//! `trellis why ADDR` on real processes on 127.0.0.1: two nodes run with
//! `--provenance` (and a cluster key), a tuple injected at one makes a
//! tuple at the other, and asking the second node walks back across both.
//! The test waits for the tuple to arrive (polling the node's output), not
//! for a time.

mod support;

use support::{Proc, records, run_trellis, text, write_file};

const PROGRAM: &str = r#"
materialize(next, infinity, infinity, keys(1)).
materialize(arrived, infinity, infinity, keys(1, 2)).
next(A, B).
external(start).
watch(arrived).
r1 token(@N, T) :- start(@M, T), next(@M, N).
r2 arrived(@N, T) :- token(@N, T).
"#;

fn node(file: &str, addr: &str, peers: (&str, &str), key: &str) -> Proc {
    let a = format!("A=\"{}\"", peers.0);
    let b = format!("B=\"{}\"", peers.1);
    let args = [
        "run",
        file,
        "--addr",
        addr,
        "-D",
        &a,
        "-D",
        &b,
        "--provenance",
        "--cluster-key",
        key,
        "--json",
    ];
    Proc::spawn(addr, &args)
}

#[test]
fn a_live_node_explains_a_tuple_across_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "relay.olg", PROGRAM);
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, b"correct horse battery staple 32B").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = key.display().to_string();
    let (a, b) = ("127.0.0.1:25960", "127.0.0.1:25961");
    let mut na = node(&file, a, (a, b), &key);
    let mut nb = node(&file, b, (a, b), &key);
    // Inject until b has the token (the first may go before b listens).
    let start = format!("start(@\"{a}\", 7)");
    let mut arrived = false;
    for _ in 0..50 {
        let sent = run_trellis(&["inject", a, &start, "--cluster-key", &key]);
        assert!(sent.status.success(), "{}", text(&sent.stderr));
        if (0..20).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            records(&nb.json(), b, "arrived", &["insert"]).count() > 0
        }) {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "the token never arrived: {}", nb.stderr());

    let pattern = format!("arrived(@\"{b}\", _)");
    let asked = run_trellis(&["why", b, &pattern, "--cluster-key", &key, "--quiet", "0.5"]);
    assert!(asked.status.success(), "{}", text(&asked.stderr));
    let tree: Vec<String> = text(&asked.stdout)
        .lines()
        .map(|l| {
            // Times are the nodes' wall clocks: keep what is not a time.
            let cut = l.find(" at ").map_or(l.len(), |i| i);
            let rest = l[cut..].split_once("s").map_or("", |(_, r)| r);
            format!("{}{}", &l[..cut], rest)
        })
        .collect();
    let expected = [
        format!("arrived(@\"{b}\", 7)  <- rule r2 on {b}"),
        format!("  token(@\"{b}\", 7)  <- received on {b} from {a}"),
        format!("    token(@\"{b}\", 7)  <- rule r1 on {a}, sent"),
        format!(
            "      start(@\"{a}\", 7)  <- received on {a} from trellis-inject  (the sender did not trace it)"
        ),
        format!("      next(@\"{a}\", \"{b}\")  <- fact on {a}"),
    ];
    assert_eq!(tree, expected, "{}", text(&asked.stdout));

    // Without the key, the nodes take nothing from the asker: no answer.
    let unkeyed = run_trellis(&["why", b, &pattern, "--quiet", "0.3", "--timeout", "2"]);
    assert_eq!(unkeyed.status.code(), Some(1), "{}", text(&unkeyed.stdout));
    na.stop();
    nb.stop();
}
