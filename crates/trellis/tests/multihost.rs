//! Two "hosts": network namespaces joined by a veth pair whose both ends
//! delay (20 ms) and drop (10%) packets with `tc netem`. A node runs in
//! each, on its own address, as docs/networking.md's multi-host section
//! shows, over UDP and over TCP (with `--bind 0.0.0.0:PORT`).
//!
//! Needs root, `ip` and `tc`, and a kernel that allows `ip netns add` and
//! veth; otherwise the test prints why and passes as skipped. Without
//! netem in the kernel it runs over the plain link and says so.
//! Traffic stays inside the namespaces this test creates and removes.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{Proc, records, shell_words};

struct Namespaces {
    a: String,
    b: String,
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Namespaces {
    /// Two namespaces, 10.231.0.1 and 10.231.0.2, joined by a veth pair;
    /// then netem on both ends, if the kernel has it (the second result).
    fn setup() -> Result<(Namespaces, Result<(), String>), String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root".into());
        }
        sh(&["ip", "-V"])?;
        sh(&["tc", "-V"])?;
        let id = std::process::id() % 100_000;
        let ns = Namespaces {
            a: format!("trellis-a-{id}"),
            b: format!("trellis-b-{id}"),
        };
        let (va, vb) = (format!("tva{id}"), format!("tvb{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", &ns.a],
            vec!["ip", "netns", "add", &ns.b],
            vec![
                "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
            ],
            vec!["ip", "link", "set", &va, "netns", &ns.a],
            vec!["ip", "link", "set", &vb, "netns", &ns.b],
            vec![
                "ip",
                "-n",
                &ns.a,
                "addr",
                "add",
                "10.231.0.1/24",
                "dev",
                &va,
            ],
            vec![
                "ip",
                "-n",
                &ns.b,
                "addr",
                "add",
                "10.231.0.2/24",
                "dev",
                &vb,
            ],
            vec!["ip", "-n", &ns.a, "link", "set", &va, "up"],
            vec!["ip", "-n", &ns.b, "link", "set", &vb, "up"],
            vec!["ip", "-n", &ns.a, "link", "set", "lo", "up"],
            vec!["ip", "-n", &ns.b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            // On failure, Drop removes what was made.
            sh(&step)?;
        }
        let netem = sh(&[
            "ip", "netns", "exec", &ns.a, "tc", "qdisc", "add", "dev", &va, "root", "netem",
            "delay", "20ms", "loss", "10%",
        ])
        .and_then(|()| {
            sh(&[
                "ip", "netns", "exec", &ns.b, "tc", "qdisc", "add", "dev", &vb, "root", "netem",
                "delay", "20ms", "loss", "10%",
            ])
        });
        Ok((ns, netem))
    }

    fn run(&self, ns: &str, name: &str, args: &[&str]) -> Proc {
        let exe = env!("CARGO_BIN_EXE_trellis");
        let mut full = vec!["netns", "exec", ns, exe];
        full.extend_from_slice(args);
        Proc::spawn_program(name, "ip", &full)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so both.
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
    }
}

fn rtts(lines: &[Value], node: &str) -> Vec<f64> {
    records(lines, node, "rtt", &["event"])
        .filter_map(|r| r["tuple"][2].as_f64())
        .collect()
}

#[test]
fn nodes_on_two_hosts_over_a_lossy_delayed_link() {
    let (ns, netem) = match Namespaces::setup() {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIPPED nodes_on_two_hosts_over_a_lossy_delayed_link: {why}");
            eprintln!("SKIPPED nodes_on_two_hosts_over_a_lossy_delayed_link: {why}");
            return;
        }
    };
    if let Err(why) = &netem {
        println!(
            "PARTLY SKIPPED nodes_on_two_hosts_over_a_lossy_delayed_link: no tc netem ({why}); \
             running over the plain veth link, without added latency and loss"
        );
        eprintln!("PARTLY SKIPPED: no tc netem ({why})");
    }
    // Exactly the commands docs/networking.md shows, plus --json.
    for pair in support::MULTIHOST.chunks(2) {
        let start = |(host, command): &(&str, &str)| {
            let mut args = shell_words(command);
            assert_eq!(args.remove(0), "trellis");
            args.push("--json".into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let ns_name = if *host == "a" { &ns.a } else { &ns.b };
            ns.run(ns_name, &format!("host-{host}"), &args)
        };
        let addr = |(_, command): &(&str, &str)| {
            let words = shell_words(command);
            let i = words.iter().position(|w| w == "--addr").expect("--addr");
            words[i + 1].clone()
        };
        let transport = if pair[0].1.contains("tcp") {
            "tcp"
        } else {
            "udp"
        };
        let (a, b) = (addr(&pair[0]), addr(&pair[1]));
        let mut na = start(&pair[0]);
        let mut nb = start(&pair[1]);
        na.wait_for("three round trips at a", |l| rtts(l, &a).len() >= 3);
        nb.wait_for("three round trips at b", |l| rtts(l, &b).len() >= 3);
        // The tuples really crossed the link: netem adds 20 ms each way.
        for (n, addr) in [(&na, &a), (&nb, &b)].into_iter().filter(|_| netem.is_ok()) {
            let r = rtts(&n.json(), addr);
            assert!(r.iter().all(|&t| t >= 0.03), "{transport} {addr}: {r:?}");
        }
        for n in [&mut na, &mut nb] {
            let s = n.stop();
            assert_eq!(s["net"]["transport"], transport);
            assert_eq!(s["net"]["decode_errors_total"], 0);
        }
    }
}
