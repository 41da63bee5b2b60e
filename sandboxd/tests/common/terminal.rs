//! Commands on a pseudo-terminal, for the terminal and gateway tests: start one
//! (`TaskExecStart` with `pty_info`), read its screen as it comes, type into it, resize it
//! through the project's own `modal_wasm.terminal.v1.Terminal` service.

use super::{svc_to, within, Md, Sb, Svc, Transport};
use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
use modal_proto::terminal::terminal_client::TerminalClient;
use modal_proto::terminal::TerminalResizeRequest;
use tonic::service::interceptor::InterceptedService;
use tonic::Status;

pub type Term = TerminalClient<InterceptedService<Svc, Md>>;

/// A client of the resize service at `url` (where the command router is) with `jwt`.
pub async fn terminal_client(url: &str, t: Transport, jwt: &str) -> Term {
    TerminalClient::with_origin(
        InterceptedService::new(svc_to(url, t).await, Md::bearer(jwt)),
        url.parse().unwrap(),
    )
}

pub fn pty_info(rows: u32, cols: u32) -> pb::PtyInfo {
    pb::PtyInfo {
        enabled: true,
        winsz_rows: rows,
        winsz_cols: cols,
        env_term: "xterm-256color".into(),
        env_colorterm: "truecolor".into(),
        pty_type: pb::pty_info::PtyType::Shell as i32,
        no_terminate_on_idle_stdin: true,
        ..Default::default()
    }
}

/// Start `argv` on a terminal of `rows` x `cols`; its exec id.
pub async fn exec_pty(sb: &mut Sb, argv: &[&str], rows: u32, cols: u32) -> Result<String, Status> {
    let exec_id = uuid::Uuid::new_v4().to_string();
    within(
        30,
        "TaskExecStart (pty)",
        sb.tcr.task_exec_start(tcr::TaskExecStartRequest {
            task_id: sb.task_id.clone(),
            exec_id: exec_id.clone(),
            command_args: argv.iter().map(|s| s.to_string()).collect(),
            stdout_config: tcr::TaskExecStdoutConfig::Pipe as i32,
            stderr_config: tcr::TaskExecStderrConfig::Pipe as i32,
            pty_info: Some(pty_info(rows, cols)),
            ..Default::default()
        }),
    )
    .await?;
    Ok(exec_id)
}

/// A terminal's screen: everything read so far, and where to read on.
pub struct Screen {
    pub exec_id: String,
    pub text: Vec<u8>,
    stream: Option<tonic::Streaming<tcr::TaskExecStdioReadResponse>>,
    stdin_offset: u64,
}

impl Screen {
    pub fn new(exec_id: String) -> Screen {
        Screen {
            exec_id,
            text: Vec::new(),
            stream: None,
            stdin_offset: 0,
        }
    }

    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }

    /// Read until the screen (since `from`) contains `needle`; the stream ending first
    /// fails the test.
    pub async fn until(&mut self, sb: &mut Sb, needle: &str, secs: u64) -> String {
        let from = self.text.len();
        let what = format!("{needle:?} on the terminal");
        within(secs, &what.clone(), async {
            loop {
                if String::from_utf8_lossy(&self.text[from..]).contains(needle) {
                    return;
                }
                if !self.read_some(sb).await {
                    panic!("the output ended before {what}: {:?}", self.as_str());
                }
            }
        })
        .await;
        String::from_utf8_lossy(&self.text[from..]).into_owned()
    }

    /// Whether the screen (from byte `from`) shows `needle` within `ms`; never fails.
    pub async fn shows_within(&mut self, sb: &mut Sb, from: usize, needle: &str, ms: u64) -> bool {
        let seen = |t: &[u8]| String::from_utf8_lossy(&t[from.min(t.len())..]).contains(needle);
        // a cancelled read loses nothing: the stream keeps what it had decoded
        let _ = tokio::time::timeout(std::time::Duration::from_millis(ms), async {
            while !seen(&self.text) && self.read_some(sb).await {}
        })
        .await;
        seen(&self.text)
    }

    /// Read to the end of the output.
    pub async fn read_to_end(&mut self, sb: &mut Sb, secs: u64) -> String {
        within(secs, "the terminal's output to end", async {
            while self.read_some(sb).await {}
        })
        .await;
        self.as_str()
    }

    /// One more chunk (reopening the stream at the offset read so far); false at the end.
    pub async fn read_some(&mut self, sb: &mut Sb) -> bool {
        if self.stream.is_none() {
            let offset = self.text.len() as u64;
            self.stream = Some(sb.stdio(&self.exec_id, offset, false).await.expect("stdio"));
        }
        match self.stream.as_mut().unwrap().message().await {
            Ok(Some(m)) => {
                assert!(!m.data.is_empty(), "never an empty chunk");
                self.text.extend_from_slice(&m.data);
                true
            }
            Ok(None) => false,
            Err(e) => panic!("reading the terminal: {e:?}"),
        }
    }

    /// Drop the output stream; the next read reopens it at the offset read so far.
    pub fn disconnect(&mut self) {
        self.stream = None;
    }

    /// Type `bytes` (raw: `\x03` is Ctrl-C, `\r` is Enter).
    pub async fn type_(&mut self, sb: &mut Sb, bytes: &[u8]) {
        self.write(sb, bytes, false).await
    }

    pub async fn write(&mut self, sb: &mut Sb, bytes: &[u8], eof: bool) {
        within(
            10,
            "TaskExecStdinWrite",
            sb.tcr
                .task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
                    task_id: sb.task_id.clone(),
                    exec_id: self.exec_id.clone(),
                    offset: self.stdin_offset,
                    data: bytes.to_vec(),
                    eof,
                }),
        )
        .await
        .expect("TaskExecStdinWrite");
        self.stdin_offset += bytes.len() as u64;
    }
}

/// Resize the terminal of `exec_id`.
pub async fn resize(
    term: &mut Term,
    sb: &Sb,
    exec_id: &str,
    rows: u32,
    cols: u32,
) -> Result<(), Status> {
    within(
        10,
        "TerminalResize",
        term.terminal_resize(TerminalResizeRequest {
            task_id: sb.task_id.clone(),
            exec_id: exec_id.to_string(),
            rows,
            cols,
        }),
    )
    .await
    .map(|_| ())
}
