//! The services as OS processes of the `statushawk` binary: started in a
//! layout, killed (`SIGKILL`), stopped (`SIGTERM`) and started again, each
//! with its own `/metrics` port and log file; and what each costs (CPU time
//! and resident memory from `/proc`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Which processes run the services.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// `statushawk all`: everything in one process.
    One,
    /// One process per service: schedulers, probers (region `local`) and
    /// evaluators as many as given, one notifier and one API.
    Processes {
        /// Scheduler instances (one leads).
        schedulers: usize,
        /// Prober instances.
        probers: usize,
        /// Evaluator instances (they share the partitions).
        evaluators: usize,
    },
}

/// One service process.
pub struct Proc {
    /// `all`, `scheduler-1`, `prober-2`, `notifier`, …
    pub name: String,
    args: Vec<String>,
    /// Its `/metrics` and `/healthz` address.
    pub metrics: SocketAddr,
    api: Option<SocketAddr>,
    child: Option<Child>,
    restarts: usize,
}

/// The running services.
pub struct Fleet {
    exe: PathBuf,
    env: Vec<(String, String)>,
    logs: PathBuf,
    procs: Vec<Proc>,
}

/// A free loopback port (bound, then released for the child to take).
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Fleet {
    /// Nothing running yet; `logs` gets one file per process.
    pub fn new(exe: &Path, env: Vec<(String, String)>, logs: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
        Ok(Self { exe: exe.to_owned(), env, logs: logs.to_owned(), procs: Vec::new() })
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.exe);
        command.args(args).envs(self.env.iter().map(|(k, v)| (k, v))).env("STATUSHAWK_LOG_FILTER", "warn");
        command
    }

    /// Runs `statushawk ARGS` to its end; its stdout, or an error with its stderr.
    pub fn once(&self, args: &[&str]) -> anyhow::Result<String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let output = self.command(&args).output().with_context(|| format!("running {}", self.exe.display()))?;
        if !output.status.success() {
            bail!(
                "statushawk {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts the services in `layout`.
    pub fn start(&mut self, layout: Layout) -> anyhow::Result<()> {
        let mut add = |name: String, args: &[&str]| -> anyhow::Result<()> {
            let api = matches!(args[0], "all" | "api").then(free_addr).transpose()?;
            let args = args.iter().map(|a| (*a).to_owned()).collect();
            self.procs.push(Proc { name, args, metrics: free_addr()?, api, child: None, restarts: 0 });
            Ok(())
        };
        match layout {
            Layout::One => add("all".into(), &["all"])?,
            Layout::Processes { schedulers, probers, evaluators } => {
                for i in 1..=schedulers {
                    add(format!("scheduler-{i}"), &["scheduler"])?;
                }
                for i in 1..=probers {
                    add(format!("prober-{i}"), &["prober", "--region", "local"])?;
                }
                for i in 1..=evaluators {
                    add(format!("evaluator-{i}"), &["evaluator"])?;
                }
                add("notifier".into(), &["notifier"])?;
                add("api".into(), &["api"])?;
            }
        }
        let names: Vec<String> = self.procs.iter().map(|p| p.name.clone()).collect();
        names.iter().try_for_each(|name| self.spawn(name))
    }

    fn find(&mut self, name: &str) -> anyhow::Result<&mut Proc> {
        self.procs.iter_mut().find(|p| p.name == name).with_context(|| format!("no process named {name}"))
    }

    fn spawn(&mut self, name: &str) -> anyhow::Result<()> {
        let logs = self.logs.clone();
        let (args, metrics, api, restarts) = {
            let proc = self.find(name)?;
            (proc.args.clone(), proc.metrics, proc.api, proc.restarts)
        };
        let log = std::fs::File::create(logs.join(format!("{name}.{restarts}.log")))?;
        let mut command = self.command(&args);
        command
            .env("STATUSHAWK_METRICS_LISTEN", metrics.to_string())
            .env("HOSTNAME", name)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(api) = api {
            command.env("STATUSHAWK_API_LISTEN", api.to_string());
        }
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        self.find(name)?.child = Some(child);
        Ok(())
    }

    /// Names of the processes, in start order.
    pub fn names(&self) -> Vec<String> {
        self.procs.iter().map(|p| p.name.clone()).collect()
    }

    /// The process ids of the running processes, by name.
    pub fn pids(&self) -> Vec<(String, i32)> {
        self.procs.iter().filter_map(|p| Some((p.name.clone(), i32::try_from(p.child.as_ref()?.id()).ok()?))).collect()
    }

    /// Waits until every running process answers `/healthz`, or fails
    /// (with its log's tail) if one exited.
    pub async fn ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for i in 0..self.procs.len() {
            if self.procs[i].child.is_none() {
                continue;
            }
            let addr = self.procs[i].metrics;
            while !healthy(addr).await {
                self.check_alive()?;
                if tokio::time::Instant::now() > deadline {
                    bail!("{} not ready within {within:?}:\n{}", self.procs[i].name, self.log_tail(&self.procs[i]));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Fails if a process that should run has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for i in 0..self.procs.len() {
            let exited = match self.procs[i].child.as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                self.procs[i].child = None;
                bail!("{} exited ({status}):\n{}", self.procs[i].name, self.log_tail(&self.procs[i]));
            }
        }
        Ok(())
    }

    fn log_tail(&self, proc: &Proc) -> String {
        let path = self.logs.join(format!("{}.{}.log", proc.name, proc.restarts));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "{} (last lines of {}):\n{}",
            proc.name,
            path.display(),
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    /// Kills `name` with `SIGKILL` and reaps it.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let proc = self.find(name)?;
        let mut child = proc.child.take().with_context(|| format!("{name} is not running"))?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts `name` again (after [`Fleet::kill`]), on the same ports.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let proc = self.find(name)?;
        anyhow::ensure!(proc.child.is_none(), "{name} is still running");
        proc.restarts += 1;
        self.spawn(name)
    }

    /// The `/metrics` page of `name`.
    pub async fn metrics(&self, name: &str) -> anyhow::Result<String> {
        let proc = self.procs.iter().find(|p| p.name == name).with_context(|| format!("no process named {name}"))?;
        http_get(proc.metrics, "/metrics").await
    }

    /// The scheduler that leads now, if one does.
    pub async fn leader(&self) -> Option<String> {
        for proc in self.procs.iter().filter(|p| p.child.is_some() && matches!(p.args[0].as_str(), "scheduler" | "all"))
        {
            let page = http_get(proc.metrics, "/metrics").await.unwrap_or_default();
            if page.lines().any(|line| line.trim() == "statushawk_scheduler_leader 1") {
                return Some(proc.name.clone());
            }
        }
        None
    }

    /// `SIGTERM` to each process, then waits for it (`SIGKILL` after 15 s).
    pub fn stop(&mut self) {
        for proc in &mut self.procs {
            if let Some(child) = proc.child.as_ref() {
                let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            }
        }
        for proc in &mut self.procs {
            let Some(mut child) = proc.child.take() else { continue };
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for proc in &mut self.procs {
            if let Some(mut child) = proc.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

async fn healthy(addr: SocketAddr) -> bool {
    http_get(addr, "/healthz").await.is_ok_and(|body| body.trim() == "ok")
}

/// A plain HTTP/1.0 GET; the body, or an error unless the status is 200.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange).await??;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    anyhow::ensure!(head.split(' ').nth(1) == Some("200"), "GET {path}: {head}");
    Ok(body.to_owned())
}

/// CPU time and memory of a group of processes at one moment.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    /// CPU seconds so far (user and system, the group's reaped children too).
    pub cpu_secs: f64,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
}

/// The usage of `pid`, and with `children` of its live children too
/// (Postgres' backends; not this process's, which are the services).
pub fn usage(pid: i32, children: bool) -> Usage {
    let ticks = procfs::ticks_per_second() as f64;
    let page = procfs::page_size();
    let mut usage = Usage::default();
    let own = procfs::process::Process::new(pid).and_then(|p| p.stat());
    let Ok(own) = own else { return usage };
    usage.cpu_secs = (own.utime + own.stime) as f64 / ticks;
    usage.rss_bytes = own.rss * page;
    if !children {
        return usage;
    }
    // Children that ended were reaped into cutime/cstime; live ones count apart.
    let children: Vec<procfs::process::Stat> = procfs::process::all_processes()
        .map(|all| all.filter_map(|p| p.ok()?.stat().ok()).filter(|s| s.ppid == pid).collect())
        .unwrap_or_default();
    usage.cpu_secs += (own.cutime.max(0) + own.cstime.max(0)) as f64 / ticks
        + children.iter().map(|s| (s.utime + s.stime) as f64 / ticks).sum::<f64>();
    usage.rss_bytes += children.iter().map(|s| s.rss).sum::<u64>() * page;
    usage
}

/// The process listening on TCP `port` of this machine, if any.
pub fn listener(port: u16) -> Option<i32> {
    let tcp = procfs::net::tcp().ok()?.into_iter().chain(procfs::net::tcp6().ok()?);
    let inode = tcp
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .next()?;
    procfs::process::all_processes().ok()?.filter_map(Result::ok).find_map(|process| {
        let has = process
            .fd()
            .ok()?
            .filter_map(Result::ok)
            .any(|fd| matches!(fd.target, procfs::process::FDTarget::Socket(i) if i == inode));
        has.then_some(process.pid)
    })
}

/// Busy and total CPU seconds of the whole machine so far.
pub fn machine() -> (f64, f64) {
    let ticks = procfs::ticks_per_second() as f64;
    let Ok(stats) = <procfs::KernelStats as procfs::CurrentSI>::current() else { return (0.0, 0.0) };
    let t = stats.total;
    let busy = t.user + t.nice + t.system + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0) + t.steal.unwrap_or(0);
    let total = busy + t.idle + t.iowait.unwrap_or(0);
    (busy as f64 / ticks, total as f64 / ticks)
}
