//! The `plainsock` command: `serve` runs the chat server, `chat URL` joins it.

use plainsock::resp::RedisUrl;
use plainsock::{Server, ServerConfig};
use std::process::ExitCode;
use std::time::Duration;

/// How long `serve --cluster` waits for Redis at start.
const CLUSTER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

const HELP: &str = "\
plainsock — one chat room over TCP, UDP and WebSocket, written the plain way

USAGE:
    plainsock serve [OPTIONS]      run the chat server
    plainsock chat URL             join the room from this terminal
    plainsock --help | --version

URL:
    tcp://HOST:PORT    e.g. tcp://127.0.0.1:7000
    udp://HOST:PORT    e.g. udp://127.0.0.1:7001
    ws://HOST:PORT/ws  e.g. ws://127.0.0.1:8080/ws

SERVE OPTIONS (ADDR is HOST:PORT, port 0 picks a free port; 'off' turns a listener off):
    --tcp ADDR               TCP chat listener            [default: 127.0.0.1:7000]
    --udp ADDR               UDP chat socket              [default: 127.0.0.1:7001]
    --ws ADDR                HTTP page + WebSocket chat   [default: 127.0.0.1:8080]
    --max-conns N            members across transports    [default: 10000]
    --max-per-ip N           members + handshakes from one client address (IPv6: one /64); 0 = no cap [default: 64]
    --trust-proxy ADDR[,ADDR...]  believe Forwarded / X-Forwarded-* only from these peers
                             (addresses or CIDR ranges, e.g. 127.0.0.1 for nginx on this host)
    --max-udp-peers N        UDP peers remembered at once [default: 1000]
    --max-line BYTES         longest chat line            [default: 8192]
    --udp-idle SECS          a silent UDP peer leaves     [default: 600]
    --write-timeout MS       a member whose oldest waiting line is this old is dropped [default: 2000]
    --max-outbox BYTES       a member with more than this waiting is dropped [default: 1048576]
    --ping-interval SECS     ping a quiet WebSocket member [default: 30]
    --pong-timeout SECS      ... and drop it if silent this much longer [default: 30]
    --handshake-timeout SECS an HTTP request head must arrive within [default: 10]
    --max-head BYTES         largest HTTP request head    [default: 8192]
    --allow-origin URL       also allow pages from this origin to open /ws (repeatable)
    --writers N              writer threads               [default: 4]
    --announce-up-to N       announce each join/leave up to this room size, then one summary a second [default: 100]
    --cluster URL            share the room with other processes through Redis:
                             redis://HOST:PORT[/DB] or redis+unix:///path/to/redis.sock
    --room NAME              which room in that Redis     [default: main]
    --quiet                  no join/leave lines on stderr
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("chat") => match &args[1..] {
            [url] => plainsock::client::run(url),
            _ => Err("usage: plainsock chat URL (e.g. tcp://127.0.0.1:7000)".into()),
        },
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            Ok(())
        }
        Some("-V" | "--version") => {
            println!("plainsock {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}' (try: plainsock --help)")),
        None => Err("missing command (try: plainsock serve, or plainsock --help)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("plainsock: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let config = parse_serve(args)?;
    if let Some(url) = &config.cluster {
        // Fail at start, in one line, rather than run a room that cannot reach the others.
        plainsock::cluster::reach(url, CLUSTER_CONNECT_TIMEOUT)?;
    }
    let trusted = config.trust_proxy.to_string();
    let server = Server::start(config).map_err(|e| e.to_string())?;
    println!("plainsock is serving one chat room:");
    if let Some(addr) = server.tcp_addr() {
        println!(
            "  tcp  {addr:<21}  join with: nc {} {}",
            addr.ip(),
            addr.port()
        );
    }
    if let Some(addr) = server.udp_addr() {
        println!(
            "  udp  {addr:<21}  join with: nc -u {} {}",
            addr.ip(),
            addr.port()
        );
    }
    if let Some(addr) = server.ws_addr() {
        // The command as it was typed (`./target/release/plainsock` under `make run`): nothing
        // puts plainsock on PATH.
        let me = std::env::args()
            .next()
            .unwrap_or_else(|| "plainsock".into());
        println!(
            "  ws   {addr:<21}  open http://{addr}/ in a browser, or: {me} chat ws://{addr}/ws"
        );
    }
    if !trusted.is_empty() {
        println!("  behind a proxy: Forwarded / X-Forwarded-* are believed from {trusted} only");
    }
    server.wait();
    Ok(())
}

/// Reads `serve`'s flags into a config; any unknown flag or bad value is an error.
fn parse_serve(args: &[String]) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let flag = flag.as_str();
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value (see plainsock --help)"))
        };
        match flag {
            "--quiet" => config.quiet = true,
            "--cluster" => {
                let url = RedisUrl::parse(value()?).map_err(|e| format!("--cluster: {e}"))?;
                config.cluster = Some(url);
            }
            "--room" => {
                let name = value()?;
                plainsock::cluster::check_room(name).map_err(|e| format!("--room: {e}"))?;
                config.room = name.clone();
            }
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--tcp" => config.tcp = listener(value()?),
            "--udp" => config.udp = listener(value()?),
            "--ws" => config.ws = listener(value()?),
            "--max-conns" => config.max_conns = number(flag, value()?)? as usize,
            "--max-per-ip" => config.max_per_ip = number(flag, value()?)? as usize,
            "--trust-proxy" => {
                config.trust_proxy = plainsock::proxy::TrustedProxies::parse(value()?)?
            }
            "--max-udp-peers" => config.max_udp_peers = number(flag, value()?)? as usize,
            "--max-line" => config.max_line = number(flag, value()?)? as usize,
            "--udp-idle" => config.udp_idle = Duration::from_secs(number(flag, value()?)?),
            "--write-timeout" => {
                config.write_timeout = Duration::from_millis(number(flag, value()?)?.max(1))
            }
            "--max-outbox" => config.max_outbox = number(flag, value()?)?.max(1) as usize,
            "--ping-interval" => {
                config.ping_interval = Duration::from_secs(number(flag, value()?)?.max(1))
            }
            "--pong-timeout" => {
                config.pong_timeout = Duration::from_secs(number(flag, value()?)?.max(1))
            }
            "--handshake-timeout" => {
                config.handshake_timeout = Duration::from_secs(number(flag, value()?)?.max(1))
            }
            "--max-head" => config.max_head = number(flag, value()?)? as usize,
            "--allow-origin" => config
                .allow_origins
                .push(value()?.trim_end_matches('/').to_string()),
            "--announce-up-to" => config.announce_up_to = number(flag, value()?)? as usize,
            "--writers" => config.writers = (number(flag, value()?)? as usize).clamp(1, 64),
            _ => return Err(format!("unknown option '{flag}' (see plainsock --help)")),
        }
    }
    Ok(config)
}

/// A listener address, or `off` for none.
fn listener(value: &str) -> Option<String> {
    (value != "off").then(|| value.to_string())
}

fn number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a whole number, not '{value}'"))
}
