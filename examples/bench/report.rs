//! The results: the table on stdout, target/bench/results.csv, target/bench/fanout.svg.

use crate::cluster::{ClusterPlan, ClusterRun};
use crate::room::RoomRun;
use crate::stats::{Goal, Row, number, percentile};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::PathBuf;

/// One fan-out size: broadcast latency until the last member had the message.
pub struct FanoutPoint {
    pub members: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Why a room run's numbers are not to be trusted, if they are not.
fn trouble(run: &RoomRun) -> String {
    let mut notes = Vec::new();
    for key in ["error", "first_error"] {
        if let Some(e) = run.text(key) {
            notes.push(e.to_string());
        }
    }
    if run.text("server_died").is_some() {
        notes.push("the server process died".into());
    }
    let missing = run.get("missing");
    if missing > 0.0 {
        notes.push(format!("{} deliveries missing", number(missing)));
    }
    notes.join("; ")
}

pub fn fanout_rows(
    members: usize,
    run: &RoomRun,
    rows: &mut Vec<Row>,
    points: &mut Vec<FanoutPoint>,
) {
    let name = format!("6 fan-out, {} members", number(members as f64));
    let cpu = format!(
        "CPU s: server {} / load-gen {}",
        number(run.get("server_cpu_broadcast_s")),
        number(run.get("loadgen_cpu_broadcast_s"))
    );
    rows.push(Row::new(&name, "deliveries/s", "/s", run.get("deliveries_per_s")).note(cpu));
    let p99 = Row::new(
        &name,
        "p99 latency to last member",
        "ms",
        run.get("last_p99_ms"),
    );
    rows.push(Row::new(
        &name,
        "p50 latency to last member",
        "ms",
        run.get("last_p50_ms"),
    ));
    rows.push(if members >= 1_000 {
        p99.goal(Goal::Below(50.0))
    } else {
        p99
    });
    rows.push(
        Row::new(
            &name,
            "max latency to last member",
            "ms",
            run.get("last_max_ms"),
        )
        .note(trouble(run)),
    );
    points.push(FanoutPoint {
        members,
        p50_ms: run.get("last_p50_ms"),
        p99_ms: run.get("last_p99_ms"),
    });
}

/// Each broadcast's latency to the last member (ms), `None` where a member never had it.
fn per_message_latency(run: &RoomRun) -> Vec<Option<f64>> {
    let alive = run.get("alive");
    let numbers = |key| -> Vec<f64> {
        run.text(key)
            .unwrap_or("")
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    let (counts, max_us) = (numbers("slot_count"), numbers("slot_max_us"));
    counts
        .iter()
        .zip(&max_us)
        .map(|(&count, &us)| (count >= alive).then_some(us / 1e3))
        .collect()
}

/// Where a run's p99 comes from: its slowest half second, and the p99 of the rest.
fn slowest_half_second(run: &RoomRun, interval_ms: u64) -> String {
    let latency = per_message_latency(run);
    let per_window = (500 / interval_ms.max(1)).max(1) as usize;
    let worst = latency
        .chunks(per_window)
        .enumerate()
        .map(|(n, w)| (n, w.iter().flatten().copied().fold(0.0, f64::max)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((window, max)) = worst else {
        return String::new();
    };
    let rest: Vec<f64> = latency
        .iter()
        .enumerate()
        .filter(|(i, _)| i / per_window != window)
        .filter_map(|(_, l)| *l)
        .collect();
    format!(
        "; slowest half second {:.1}-{:.1} s after the first broadcast (max {} ms), p99 of the rest {} ms",
        window as f64 * 0.5,
        window as f64 * 0.5 + 0.5,
        number(max),
        number(percentile(&rest, 99.0))
    )
}

/// target/bench/slow_consumers.csv: scenario 8's latency, broadcast by broadcast, in both runs.
pub fn write_slow_consumer_series(
    interval_ms: u64,
    calm: &RoomRun,
    stalled: &RoomRun,
) -> io::Result<()> {
    let (calm, stalled) = (per_message_latency(calm), per_message_latency(stalled));
    let cell = |l: Option<&Option<f64>>| match l {
        Some(Some(ms)) => format!("{ms:.3}"),
        _ => String::new(),
    };
    let mut csv = String::from("broadcast,due_ms,calm_last_ms,stalled_last_ms\n");
    for n in 0..calm.len().max(stalled.len()) {
        let _ = writeln!(
            csv,
            "{n},{},{},{}",
            n as u64 * interval_ms,
            cell(calm.get(n)),
            cell(stalled.get(n))
        );
    }
    let dir = out_dir()?;
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("slow_consumers.csv"), csv)
}

/// The run whose `key` is the median of the runs' (the upper one of an even count).
pub fn median_run<'a>(runs: &'a [RoomRun], key: &str) -> Option<&'a RoomRun> {
    let mut sorted: Vec<&RoomRun> = runs.iter().collect();
    sorted.sort_by(|a, b| a.get(key).total_cmp(&b.get(key)));
    sorted.get(sorted.len() / 2).copied()
}

/// Scenario 8: honest members' latency with and without stalled ones, and the evictions, over
/// several pairs of runs (calm, then stalled): latency rows give the median run and list every
/// run, so that one hiccup of a shared VM neither makes nor breaks the goal; the rest add up.
pub fn slow_consumer_rows(
    interval_ms: u64,
    members: usize,
    stalled: usize,
    calm_runs: &[RoomRun],
    runs: &[RoomRun],
    rows: &mut Vec<Row>,
) {
    let (Some(calm), Some(run)) = (
        median_run(calm_runs, "last_p99_ms"),
        median_run(runs, "last_p99_ms"),
    ) else {
        return;
    };
    let name = format!(
        "8 slow consumers, {} + {} stalled",
        number(members as f64),
        number(stalled as f64)
    );
    let each = |runs: &[RoomRun], key: &str| {
        runs.iter()
            .map(|r| number(r.get(key)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let sum = |key: &str| runs.iter().map(|r| r.get(key)).sum::<f64>();
    let all = |key: &str, pick: fn(f64, f64) -> f64| {
        runs.iter()
            .map(|r| r.get(key))
            .reduce(pick)
            .unwrap_or(f64::NAN)
    };
    let p99_calm = calm.get("last_p99_ms");
    rows.push(
        Row::new(
            &name,
            "p50 latency to last honest member",
            "ms",
            median_run(runs, "last_p50_ms").map_or(f64::NAN, |r| r.get("last_p50_ms")),
        )
        .baseline(median_run(calm_runs, "last_p50_ms").map_or(f64::NAN, |r| r.get("last_p50_ms"))),
    );
    let p99 = run.get("last_p99_ms");
    rows.push(
        Row::new(&name, "p99 latency to last honest member", "ms", p99)
            .baseline(p99_calm)
            .goal(Goal::Below((1.5 * p99_calm).min(50.0)))
            .note(format!(
                "{} (stalled: {} ms; calm: {} ms); baseline: the same {} members with none \
                 stalled; goal: at most 1.5x it and under 50 ms{}{}",
                match runs.len() {
                    1 => "one run".to_string(),
                    n => format!("median of {n} runs"),
                },
                each(runs, "last_p99_ms"),
                each(calm_runs, "last_p99_ms"),
                number((members + stalled) as f64),
                slowest_half_second(run, interval_ms),
                runs.iter()
                    .map(trouble)
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("; {t}"))
                    .collect::<String>()
            )),
    );
    rows.push(
        Row::new(&name, "deliveries lost", "", sum("missing"))
            .goal(Goal::Below(0.5))
            .note(format!(
                "in {} run(s); {} honest members dropped",
                runs.len(),
                number(sum("honest_dropped"))
            )),
    );
    rows.push(
        Row::new(
            &name,
            "stalled members evicted",
            "",
            all("stalled_evicted", f64::min),
        )
        .note(format!(
            "of {stalled}, in the run that evicted fewest; the first {} ms, the last {} ms after \
             the first broadcast over all runs (found out by an unanswered Ping, by its outbox's \
             bounds while its lines waited for one, or by a full socket)",
            number(all("evicted_first_ms", f64::min)),
            number(all("evicted_max_ms", f64::max))
        )),
    );
    rows.push(Row::new(
        &name,
        "peak server RSS",
        "MiB",
        all("peak_rss_bytes", f64::max) / (1024.0 * 1024.0),
    ));
}

pub fn scale_rows(members: usize, run: &RoomRun, rows: &mut Vec<Row>) {
    let name = format!("7 scale, {} idle members", number(members as f64));
    let mib = 1024.0 * 1024.0;
    let rss = run.get("rss_idle_bytes");
    let per_member = (rss - run.get("rss_empty_bytes")) / run.get("opened").max(1.0) / 1024.0;
    let full_size = members >= 10_000;
    let goal = |row: Row, g| if full_size { row.goal(g) } else { row };
    rows.push(
        Row::new(&name, "members joined", "", run.get("opened")).note(format!(
            "{} connects failed, {} handshakes failed, {} closed by server",
            number(run.get("connect_failed")),
            number(run.get("handshake_failed")),
            number(run.get("closed"))
        )),
    );
    rows.push(goal(
        Row::new(&name, "server RSS", "MiB", rss / mib),
        Goal::Below(1024.0),
    ));
    rows.push(goal(
        Row::new(&name, "RSS per member", "KiB", per_member)
            .note("(idle RSS - empty RSS) / members"),
        Goal::Below(100.0),
    ));
    rows.push(Row::new(
        &name,
        "server threads",
        "",
        run.get("threads_idle"),
    ));
    rows.push(
        Row::new(
            &name,
            "all connected + upgraded",
            "s",
            run.get("connect_all_ms") / 1e3,
        )
        .note(format!(
            "room settled (every join notice read) after {} s",
            number(run.get("settle_all_ms") / 1e3)
        )),
    );
    rows.push(
        Row::new(&name, "connect p99", "ms", run.get("connect_p99_ms")).note(format!(
            "p50 {} ms, max {} ms",
            number(run.get("connect_p50_ms")),
            number(run.get("connect_max_ms"))
        )),
    );
    rows.push(
        Row::new(
            &name,
            "connects >= 0.9 s (dropped SYN)",
            "",
            run.get("connect_slow"),
        )
        .note(format!(
            "TcpExt ListenOverflows +{} during the run (machine-wide)",
            number(run.get("listen_overflows"))
        )),
    );
    rows.push(
        Row::new(
            &name,
            "CPU s while joining: server",
            "s",
            run.get("server_cpu_connect_s"),
        )
        .note(format!(
            "load-gen {} s",
            number(run.get("loadgen_cpu_connect_s"))
        )),
    );
    rows.push(goal(
        Row::new(
            &name,
            "one broadcast reaches all (p50)",
            "ms",
            run.get("last_p50_ms"),
        )
        .note(format!(
            "max {} ms over {} broadcasts; {}",
            number(run.get("last_max_ms")),
            number(run.get("complete")),
            trouble(run)
        )),
        Goal::Below(1000.0),
    ));
}

const MIB: f64 = 1024.0 * 1024.0;

/// Scenario 9: one room over three `plainsock serve --cluster` processes and Redis.
pub fn cluster_rows(plan: &ClusterPlan, run: &ClusterRun, rows: &mut Vec<Row>) {
    let name = format!(
        "9 cluster, {} x {} members",
        plan.servers,
        number(plan.per_server as f64)
    );
    let trouble = run.trouble.join("; ");
    // Nothing measured is not 0 ms.
    let percentile = |v: &[f64], p| {
        if v.is_empty() {
            f64::NAN
        } else {
            percentile(v, p)
        }
    };
    rows.push(
        Row::new(&name, "members joined", "", run.joined as f64).note(format!(
            "{} connects failed, {} handshakes failed; all in after {} s ({} load generators)",
            number(run.connect_failed as f64),
            number(run.handshake_failed as f64),
            number(run.join_s),
            plan.loadgens
        )),
    );
    let Some((single, rates)) = run.phases.split_first() else {
        return;
    };
    rows.push(
        Row::new(
            &name,
            "one broadcast reaches all (p50)",
            "ms",
            percentile(&single.last_ms, 50.0),
        )
        .note(format!(
            "{} of {} broadcasts {} ms apart reached everyone; max {} ms; {} deliveries lost",
            single.last_ms.len(),
            single.sent,
            plan.single.1.as_millis(),
            number(percentile(&single.last_ms, 100.0)),
            number(single.lost as f64)
        )),
    );
    rows.push(
        Row::new(
            &name,
            "one broadcast reaches all (p99)",
            "ms",
            percentile(&single.last_ms, 99.0),
        )
        .goal(Goal::Below(1000.0)),
    );
    for (phase, &(rate, seconds)) in rates.iter().zip(&plan.rates) {
        let what = format!("{rate} lines/s for {seconds} s");
        let [redis, servers, loadgens, machine] = phase.cpu_pct;
        rows.push(
            Row::new(
                &name,
                &format!("{what}: deliveries lost"),
                "",
                phase.lost as f64,
            )
            .goal(Goal::Below(0.5))
            .note(format!(
                "{} lines to {} members ({} deliveries/s asked), sent in {} s; lost: not there \
                 once nothing came for 10 s; {} members closed by the servers in the whole run{}",
                number(phase.sent as f64),
                number(run.joined as f64),
                number((rate as u64 * run.joined) as f64),
                number(phase.seconds),
                number(run.closed as f64),
                if trouble.is_empty() {
                    String::new()
                } else {
                    format!("; {trouble}")
                }
            )),
        );
        for p in [50.0, 99.0] {
            rows.push(Row::new(
                &name,
                &format!("{what}: p{p} latency to last member"),
                "ms",
                percentile(&phase.last_ms, p),
            ));
        }
        rows.push(
            Row::new(&name, &format!("{what}: Redis CPU"), "% of a core", redis).note(format!(
                "meanwhile the {} servers {} %, the load generators {} %, the machine {} % \
                 (of one core; {} cores)",
                plan.servers,
                number(servers),
                number(loadgens),
                number(machine),
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )),
        );
    }
    rows.push(
        Row::new(
            &name,
            "server RSS per member",
            "KiB",
            run.rss_bytes as f64 / (run.joined.max(1) as f64) / 1024.0,
        )
        .goal(Goal::Below(100.0))
        .note(format!(
            "RSS of the {} processes, idle: {} MiB in all ({} MiB before anyone joined); {} \
             threads; Redis RSS {} MiB",
            plan.servers,
            number(run.rss_bytes as f64 / MIB),
            number(run.rss_empty_bytes as f64 / MIB),
            number(run.threads as f64),
            number(run.redis_rss_bytes as f64 / MIB)
        )),
    );
    for p in [50.0, 99.0] {
        rows.push(
            Row::new(
                "9 link price, 1 member",
                &format!("echo p{p} with --cluster"),
                "ms",
                percentile(&run.echo_cluster_ms, p),
            )
            .baseline(percentile(&run.echo_plain_ms, p))
            .note(format!(
                "baseline: the same process without --cluster; {} round trips each",
                run.echo_plain_ms.len()
            )),
        );
    }
}

const HEAD: [&str; 7] = [
    "scenario",
    "measure",
    "plainsock",
    "baseline",
    "ratio",
    "target",
    "met",
];

fn cells(row: &Row) -> [String; 7] {
    let unit = if row.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", row.unit)
    };
    [
        row.scenario.clone(),
        row.measure.clone(),
        format!("{}{unit}", number(row.value)),
        row.baseline
            .map(|b| format!("{}{unit}", number(b)))
            .unwrap_or_default(),
        row.ratio().map(|r| format!("{r:.2}x")).unwrap_or_default(),
        row.target_text(),
        match row.met() {
            Some(true) => "met".into(),
            Some(false) => "NOT MET".into(),
            None => String::new(),
        },
    ]
}

pub fn print_table(rows: &[Row]) {
    let table: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut width = HEAD.map(str::len);
    for r in &table {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 7]| {
        let mut s = String::from("|");
        for (i, c) in cols.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if (2..5).contains(&i) {
                let _ = write!(s, " {}{c} |", " ".repeat(pad));
            } else {
                let _ = write!(s, " {c}{} |", " ".repeat(pad));
            }
        }
        s
    };
    println!();
    println!("{}", line(HEAD));
    println!(
        "{}",
        line(width.map(|w| "-".repeat(w)).each_ref().map(String::as_str))
    );
    for (r, row) in table.iter().zip(rows) {
        println!("{}", line(r.each_ref().map(String::as_str)));
        if !row.note.is_empty() {
            println!("|   {}", row.note);
        }
    }
    println!();
}

/// target/bench, beside target/release (found from this executable's path).
pub fn out_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or_else(|| io::Error::other("cannot locate the target directory"))?;
    Ok(target.join("bench"))
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_files(rows: &[Row], points: &[FanoutPoint]) -> io::Result<PathBuf> {
    let dir = out_dir()?;
    fs::create_dir_all(&dir)?;
    let mut csv = String::from("scenario,measure,unit,plainsock,baseline,ratio,target,met,note\n");
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
    for row in rows {
        let met = match row.met() {
            Some(true) => "met",
            Some(false) => "not met",
            None => "",
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{}",
            csv_field(&row.scenario),
            csv_field(&row.measure),
            csv_field(row.unit),
            opt(Some(row.value).filter(|v| v.is_finite())),
            opt(row.baseline),
            opt(row.ratio()),
            csv_field(&row.target_text()),
            met,
            csv_field(&row.note)
        );
    }
    fs::write(dir.join("results.csv"), csv)?;
    fs::write(dir.join("fanout.svg"), svg(points))?;
    Ok(dir)
}

/// A small line chart: members (log scale) across, latency to the last member up.
fn svg(points: &[FanoutPoint]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 70.0, 20.0, 40.0, 60.0);
    let pts: Vec<&FanoutPoint> = points
        .iter()
        .filter(|p| p.members > 0 && p.p50_ms.is_finite() && p.p99_ms.is_finite())
        .collect();
    let max_y = pts.iter().map(|p| p.p99_ms).fold(1.0, f64::max) * 1.15;
    let lo = pts
        .iter()
        .map(|p| (p.members as f64).log10())
        .fold(f64::INFINITY, f64::min);
    let hi = pts
        .iter()
        .map(|p| (p.members as f64).log10())
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 4.0)
    };
    let x = |m: usize| left + ((m as f64).log10() - lo) / (hi - lo) * (w - left - right);
    let y = |v: f64| top + (1.0 - v / max_y) * (h - top - bottom);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Chat fan-out: broadcast latency until the last member has it</text>\n",
        w / 2.0
    );
    let (x0, x1, y0, y1) = (left, w - right, top, h - bottom);
    let _ = writeln!(
        s,
        "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"black\"/>"
    );
    let _ = writeln!(
        s,
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"black\"/>"
    );
    for i in 0..=4 {
        let v = max_y * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" y1=\"{yy:.1}\" x2=\"{x1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            yy + 4.0,
            number(v)
        );
    }
    for p in &pts {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(p.members),
            y1 + 18.0,
            number(p.members as f64)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">members in the room (log scale)</text>\n\
         <text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">latency (ms)</text>",
        (x0 + x1) / 2.0,
        h - 18.0,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    for (label, color, value) in [
        (
            "p50",
            "#1f77b4",
            (|p: &FanoutPoint| p.p50_ms) as fn(&FanoutPoint) -> f64,
        ),
        ("p99", "#d62728", |p: &FanoutPoint| p.p99_ms),
    ] {
        let line: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.members), y(value(p))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            line.join(" ")
        );
        for p in &pts {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{label} {} ms at {} members</title></circle>",
                x(p.members),
                y(value(p)),
                number(value(p)),
                p.members
            );
        }
    }
    let _ = writeln!(
        s,
        "<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"3\" fill=\"#1f77b4\"/><text x=\"{2}\" y=\"{3}\">p50</text>\n\
         <rect x=\"{0}\" y=\"{4}\" width=\"12\" height=\"3\" fill=\"#d62728\"/><text x=\"{2}\" y=\"{5}\">p99</text>",
        x0 + 12.0,
        y0 + 8.0,
        x0 + 30.0,
        y0 + 12.0,
        y0 + 24.0,
        y0 + 28.0
    );
    s.push_str("</svg>\n");
    s
}
