//! A `vixens-emulator` process for tests that drive Terraform against emulated Talos nodes: started from a
//! topology (YAML, loopback addresses only), ready once it prints `ready`, killed on drop.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running emulator.
pub struct EmulatorProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl EmulatorProcess {
    /// Starts the emulator with `topology` (the YAML of `vixens::emulator::topology`), and the control endpoint on
    /// `control` when given.
    pub fn start(topology: &str, control: Option<&str>) -> EmulatorProcess {
        let args = control
            .map(|addr| vec!["--control".into(), addr.into()])
            .unwrap_or_default();
        Self::spawn(topology, args)
    }

    /// Starts the emulator with `topology`, keeping its state (Talos nodes and Kubernetes objects) in
    /// `state_dir`: another one started on the same directory after [`EmulatorProcess::kill`] goes on from it.
    pub fn start_persistent(topology: &str, state_dir: &Path) -> EmulatorProcess {
        Self::spawn(topology, vec!["--state-dir".into(), state_dir.into()])
    }

    fn spawn(topology: &str, args: Vec<OsString>) -> EmulatorProcess {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topology.yaml");
        std::fs::write(&path, topology).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vixens-emulator"))
            .args(args)
            .arg("--topology")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vixens-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "emulator did not start");
        EmulatorProcess { child, _dir: dir }
    }

    /// Kills the process at once (as a crash or a power cut would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// POSTs `body` (JSON) to `path` of the emulator's control endpoint `addr` (e.g. `/faults/nodes/cp1`); panics
/// unless it answers 200.
pub fn control_post(addr: &str, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}
