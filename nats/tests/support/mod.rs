//! Real `nats-server` processes started from the configurations in
//! `nats/conf`, on free ports in a temporary directory, with certificates
//! from `scripts/nats-certs`. Only the ports of the `listen:` and `http:`
//! lines are changed (the addresses stay as the files say); everything else,
//! including every variable, is the shipped configuration.
//!
//! Servers are killed when their [`Server`] is dropped, also when a test
//! fails.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long anything may take to become true (servers start, routes form,
/// JetStream elects its leaders) on a busy machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The repository's `nats/conf` directory.
pub fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}

/// Polls `check` until it gives a value, failing the test with `what` after
/// [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: impl Display, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {PATIENCE:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// Random, URL-safe passwords for every user of the configurations.
#[derive(Clone)]
pub struct Secrets {
    /// `sys` (SYS).
    pub sys: String,
    /// `statushawk` (APP).
    pub app: String,
    /// `prober-us-east` (PROBER_US_EAST, the hub's own region).
    pub prober_us_east: String,
    /// `prober-eu-west` (PROBER_EU_WEST, behind the leaf).
    pub prober_eu_west: String,
    /// `route` (the cluster's routes).
    pub route: String,
    /// `prober` on the leaf node.
    pub leaf_local: String,
}

impl Secrets {
    pub fn random() -> Self {
        let password = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            sys: password(),
            app: password(),
            prober_us_east: password(),
            prober_eu_west: password(),
            route: password(),
            leaf_local: password(),
        }
    }
}

/// A directory made by `scripts/nats-certs`.
#[derive(Clone)]
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// Runs `scripts/nats-certs DIR HOST...`.
    pub fn make(dir: &Path, hosts: &[&str]) -> Self {
        let script = statushawk_testkit::repo_root().join("scripts/nats-certs");
        let output = Command::new(&script).arg(dir).args(hosts).output().unwrap();
        assert!(output.status.success(), "{} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr));
        Self { dir: dir.to_owned() }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("NATS_TLS_CA".into(), self.ca().display().to_string()),
            ("NATS_TLS_CERT".into(), self.dir.join("server.crt").display().to_string()),
            ("NATS_TLS_KEY".into(), self.dir.join("server.key").display().to_string()),
        ]
    }
}

/// `text` with the port of every `listen:` / `http:` line that has one of
/// the `(old, new)` ports replaced; each old port must be found exactly once.
pub fn rebind(text: &str, ports: &[(u16, u16)]) -> String {
    let mut found = vec![0; ports.len()];
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let setting = line.trim_start();
            if !(setting.starts_with("listen:") || setting.starts_with("http:")) {
                return line.to_owned();
            }
            let Some((address, port)) = line.trim_end().rsplit_once(':') else { return line.to_owned() };
            match ports.iter().position(|(old, _)| port.parse() == Ok(*old)) {
                Some(i) => {
                    found[i] += 1;
                    format!("{address}:{}", ports[i].1)
                }
                None => line.to_owned(),
            }
        })
        .collect();
    for ((old, _), n) in ports.iter().zip(found) {
        assert_eq!(n, 1, "expected one listen/http line with port {old} in:\n{text}");
    }
    lines.join("\n") + "\n"
}

/// One running `nats-server`; killed on drop.
pub struct Server {
    pub name: String,
    child: Mutex<Child>,
    log: PathBuf,
    /// Client port.
    pub client: u16,
    /// Monitoring port (`http`).
    pub monitor: u16,
    /// Route port, for hub nodes.
    pub cluster: u16,
    /// Leaf node port, for hub nodes.
    pub leafnodes: u16,
}

impl Server {
    /// Starts `nats-server -c conf` with exactly `env` as its environment.
    pub fn spawn(name: &str, conf: &Path, env: &[(String, String)], ports: [u16; 4]) -> Self {
        let log = conf.with_extension("log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(statushawk_testkit::nats_server_binary())
            .arg("-c")
            .arg(conf)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let [client, monitor, cluster, leafnodes] = ports;
        Self { name: name.to_owned(), child: Mutex::new(child), log, client, monitor, cluster, leafnodes }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test with the log if the server has exited.
    pub fn assert_running(&self) {
        let status = self.child.lock().unwrap().try_wait().unwrap();
        if let Some(status) = status {
            panic!("nats-server {} exited ({status}):\n{}", self.name, self.log());
        }
    }

    /// A monitoring endpoint as JSON, `None` while it is not answering 200.
    pub async fn monitoring(&self, path: &str) -> Option<Value> {
        self.assert_running();
        let (status, body) = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, self.monitor)), path).await?;
        if status != 200 {
            return None;
        }
        serde_json::from_str(&body).ok()
    }

    /// Waits until `/healthz` answers 200; failing, says what it last
    /// answered and what the server logged.
    pub async fn wait_healthy(&self) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = None;
        loop {
            self.assert_running();
            last = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, self.monitor)), "/healthz").await.or(last);
            if last.as_ref().is_some_and(|(status, _)| *status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {PATIENCE:?} waiting for {} /healthz; last answer {last:?}; its log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The servers this one holds routes to (a pool of connections each).
    pub async fn routed_to(&self) -> Option<BTreeSet<String>> {
        let routez = self.monitoring("/routez").await?;
        let routes = routez["routes"].as_array()?;
        Some(routes.iter().filter_map(|r| r["remote_name"].as_str()).map(str::to_owned).collect())
    }

    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A plain HTTP/1.0 GET: status and body, `None` if nothing answers.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// The environment of a hub node: storage, TLS, passwords and the routes
/// to `route_ports` (all on 127.0.0.1) carrying `route_password`.
pub fn hub_env(
    store: &Path,
    certs: &Certs,
    secrets: &Secrets,
    route_password: &str,
    route_ports: &[u16],
) -> Vec<(String, String)> {
    let routes: Vec<String> =
        route_ports.iter().map(|p| format!("\"nats-route://route:{route_password}@127.0.0.1:{p}\"")).collect();
    let mut env = vec![
        ("NATS_STORE_DIR".to_owned(), store.display().to_string()),
        ("NATS_ROUTE_PASSWORD".to_owned(), secrets.route.clone()),
        ("NATS_ROUTES".to_owned(), format!("[{}]", routes.join(", "))),
        ("NATS_SYS_PASSWORD".to_owned(), secrets.sys.clone()),
        ("STATUSHAWK_NATS_PASSWORD".to_owned(), secrets.app.clone()),
        ("PROBER_US_EAST_PASSWORD".to_owned(), secrets.prober_us_east.clone()),
        ("PROBER_EU_WEST_PASSWORD".to_owned(), secrets.prober_eu_west.clone()),
    ];
    env.extend(certs.env());
    env
}

/// Copies `conf/cluster` to `dir`, with `hub.conf` listening on `ports`
/// (client, monitoring, routes, leaf nodes), and writes a node file naming
/// the server `name` the way n1.conf does. Returns the node file.
pub fn hub_node_files(dir: &Path, name: &str, ports: [u16; 4]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(conf_dir().join("cluster")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let [client, monitor, cluster, leafnodes] = ports;
    let hub = std::fs::read_to_string(dir.join("hub.conf")).unwrap();
    let hub = rebind(&hub, &[(4222, client), (8222, monitor), (6222, cluster), (7422, leafnodes)]);
    std::fs::write(dir.join("hub.conf"), hub).unwrap();
    let node = dir.join(format!("{name}.conf"));
    if !node.exists() {
        let n1 = std::fs::read_to_string(dir.join("n1.conf")).unwrap();
        std::fs::write(&node, n1.replace("server_name: n1", &format!("server_name: {name}"))).unwrap();
    }
    node
}

/// Four free ports: client, monitoring, routes, leaf nodes.
pub fn four_ports() -> [u16; 4] {
    [free_port(), free_port(), free_port(), free_port()]
}

/// The three-node hub of `conf/cluster`, formed and healthy.
pub struct Hub {
    pub nodes: Vec<Server>,
    pub secrets: Secrets,
}

impl Hub {
    /// Starts n1, n2 and n3 and waits until each is healthy and routed to
    /// the other two.
    pub async fn start(dir: &Path, certs: &Certs, secrets: &Secrets) -> Self {
        let ports: Vec<[u16; 4]> = (0..3).map(|_| four_ports()).collect();
        let route_ports: Vec<u16> = ports.iter().map(|p| p[2]).collect();
        let mut nodes = Vec::new();
        for (i, ports) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let node_dir = dir.join(&name);
            let conf = hub_node_files(&node_dir, &name, *ports);
            let env = hub_env(&node_dir.join("store"), certs, secrets, &secrets.route, &route_ports);
            nodes.push(Server::spawn(&name, &conf, &env, *ports));
        }
        for node in &nodes {
            node.wait_healthy().await;
        }
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        for node in &nodes {
            let others: BTreeSet<String> = names.iter().filter(|n| **n != node.name).cloned().collect();
            let what = format!("{} routed to {others:?}", node.name);
            eventually(what, || async { (node.routed_to().await? == others).then_some(()) }).await;
        }
        Self { nodes, secrets: secrets.clone() }
    }

    /// The leaf node URLs of the nodes, with `user:password@`.
    pub fn leaf_urls(&self, scheme: &str, user: &str, password: &str) -> String {
        let urls: Vec<String> =
            self.nodes.iter().map(|n| format!("\"{scheme}://{user}:{password}@127.0.0.1:{}\"", n.leafnodes)).collect();
        format!("[{}]", urls.join(", "))
    }

    /// The leaf connections the hub holds, over all nodes, as `/leafz` lists them.
    pub async fn leafs(&self) -> Vec<Value> {
        let mut leafs = Vec::new();
        for node in &self.nodes {
            if let Some(leafz) = node.monitoring("/leafz?subs=1").await {
                leafs.extend(leafz["leafs"].as_array().cloned().unwrap_or_default());
            }
        }
        leafs
    }
}

/// Starts `conf/leaf-region.conf` as `name`, listening on free ports and
/// connecting to `hub_leaf_urls` (NATS_HUB_LEAF_URLS).
pub fn spawn_leaf(dir: &Path, name: &str, certs: &Certs, secrets: &Secrets, hub_leaf_urls: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let [client, monitor, ..] = four_ports();
    let text = std::fs::read_to_string(conf_dir().join("leaf-region.conf")).unwrap();
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, rebind(&text, &[(4222, client), (8222, monitor)])).unwrap();
    let env = vec![
        ("NATS_SERVER_NAME".to_owned(), name.to_owned()),
        ("LEAF_LOCAL_PASSWORD".to_owned(), secrets.leaf_local.clone()),
        ("NATS_HUB_LEAF_URLS".to_owned(), hub_leaf_urls.to_owned()),
        ("NATS_TLS_CA".to_owned(), certs.ca().display().to_string()),
    ];
    Server::spawn(name, &conf, &env, [client, monitor, 0, 0])
}
