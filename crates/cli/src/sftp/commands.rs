//! The command interpreter of `whelk sftp`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{Signal, SignalKind, signal};
use whelk_tokio::sftp::{Attrs, Progress, SftpClient, TransferOptions, glob};

use super::Args;
use super::lineedit::{Input, LineEditor};

const HELP: &str = "\
Available commands:
bye                                Quit sftp
cd path                            Change remote directory to 'path'
chgrp grp path                     Change group of file 'path' to 'grp'
chmod mode path                    Change permissions of file 'path' to 'mode'
chown own path                     Change owner of file 'path' to 'own'
cp oldpath newpath                 Copy remote file (server side when possible)
df [-hi] [path]                    Display statistics for current directory or
                                   filesystem containing 'path'
exit                               Quit sftp
get [-afpPrR] remote [local]       Download file
reget [-fpPrR] remote [local]      Resume download file
reput [-fpPrR] [local] remote      Resume upload file
help                               Display this help text
lcd path                           Change local directory to 'path'
lls [ls-options [path]]            Display local directory listing
lmkdir path                        Create local directory
ln [-s] oldpath newpath            Link remote file (-s for symlink)
lpwd                               Print local working directory
ls [-1al] [path]                   Display remote directory listing
mkdir path                         Create remote directory
progress                           Toggle display of progress meter
put [-afpPrR] local [remote]       Upload file
pwd                                Display remote working directory
quit                               Quit sftp
rename oldpath newpath             Rename remote file
rm path                            Delete remote file
rmdir path                         Remove remote directory
symlink oldpath newpath            Symlink remote file
version                            Show SFTP version
!command                           Execute 'command' in local shell
!                                  Escape to local shell
?                                  Synonym for help
";

/// The interpreter's state.
pub(crate) struct Shell {
    sftp: SftpClient,
    cwd: String,
    defaults: TransferOptions,
    progress: bool,
    quiet: bool,
}

/// Splits a command line into words: whitespace separates, `'…'`, `"…"` and `\` quote.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' | '"' => {
                has = true;
                loop {
                    match it.next() {
                        Some(x) if x == c => break,
                        Some('\\') if c == '"' => cur.push(it.next().ok_or("unterminated quote")?),
                        Some(x) => cur.push(x),
                        None => return Err("Unterminated quote".into()),
                    }
                }
            }
            '\\' => {
                has = true;
                // Keep backslashes before wildcard characters so they stay literal.
                match it.next() {
                    Some(x @ ('*' | '?' | '[' | ']')) => {
                        cur.push('\\');
                        cur.push(x);
                    }
                    Some(x) => cur.push(x),
                    None => return Err("Terminating backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

/// Splits leading `-xyz` flags off the words (stops at `--` or the first non-flag).
fn flags(w: &[String]) -> (String, Vec<String>) {
    let mut f = String::new();
    let mut i = 0;
    while let Some(a) = w.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        match a.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => f.push_str(rest),
            _ => break,
        }
        i += 1;
    }
    (f, w.get(i..).unwrap_or_default().to_vec())
}

/// A progress callback drawing one indicatif bar per file on stdout (name, percentage,
/// bytes, rate, time left); a file's bar is finished when the next one starts or it is done.
pub(crate) fn progress_bars() -> whelk_tokio::sftp::ProgressFn {
    let style = ProgressStyle::with_template(
        "{msg:30!} {percent:>3}% {bytes:>10} {binary_bytes_per_sec:>12} {eta:>4} [{wide_bar}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let current: Mutex<Option<(String, ProgressBar)>> = Mutex::new(None);
    Arc::new(move |p: &Progress| {
        let Ok(mut cur) = current.lock() else {
            return;
        };
        if cur.as_ref().is_none_or(|(path, _)| *path != p.path) {
            if let Some((_, bar)) = cur.take() {
                bar.finish();
            }
            let name = Path::new(&p.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bar =
                ProgressBar::with_draw_target(p.total, ProgressDrawTarget::stdout_with_hz(10))
                    .with_style(style.clone())
                    .with_message(name);
            *cur = Some((p.path.clone(), bar));
        }
        if let Some((_, bar)) = cur.as_ref() {
            bar.set_position(p.transferred);
            if p.total.is_some_and(|t| p.transferred >= t) {
                bar.finish();
                *cur = None;
            }
        }
    })
}

fn human(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1}{}", units.get(u).copied().unwrap_or("B"))
}

fn unglob(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Shell {
    pub(crate) async fn new(sftp: SftpClient, args: &Args) -> Result<Self, String> {
        let cwd = sftp.realpath(".").await.map_err(|e| e.to_string())?;
        let defaults = TransferOptions {
            recursive: args.recursive,
            preserve: args.preserve,
            resume: args.resume,
            max_outstanding: args.requests.unwrap_or(64),
            block_size: args.buffer,
            ..TransferOptions::default()
        };
        Ok(Self {
            sftp,
            cwd,
            defaults,
            progress: std::io::stdout().is_terminal() && !args.quiet,
            quiet: args.quiet,
        })
    }

    fn abs(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_string()
        } else if p == "." {
            self.cwd.clone()
        } else if self.cwd.ends_with('/') {
            format!("{}{p}", self.cwd)
        } else {
            format!("{}/{p}", self.cwd)
        }
    }

    /// The destination's path: a directory becomes the working directory (`Ok(true)`), a
    /// file is fetched into the local directory (`Ok(false)`: nothing more to do).
    pub(crate) async fn start_at(&mut self, path: &str) -> Result<bool, String> {
        let p = self.abs(path);
        if glob::has_magic(path) || !self.sftp.isdir(&p).await.map_err(|e| e.to_string())? {
            self.get(&["get".into(), path.into()], false).await?;
            return Ok(false);
        }
        self.cwd = self.sftp.realpath(&p).await.map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Reads commands from the batch file, or from stdin. Returns the exit status.
    pub(crate) async fn run_input(&mut self, batch: Option<&str>) -> u8 {
        let interactive = batch.is_none();
        let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match batch {
            None | Some("-") => Box::new(tokio::io::stdin()),
            Some(path) => match tokio::fs::File::open(path).await {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("{path}: {e}");
                    return 1;
                }
            },
        };
        // On a terminal: the line editor (history, cursor keys); otherwise plain lines.
        let mut editor = (interactive && std::io::stdin().is_terminal()).then(LineEditor::new);
        let mut lines = BufReader::new(reader).lines();
        // Ctrl-C (SIGINT) interrupts the command that runs and the session goes on, as with
        // OpenSSH's sftp: a transfer stops, a download's local file cut back to its
        // gap-free part so that `reget` continues it. Between commands it is ignored (on a
        // terminal the line editor gets Ctrl-C as a key and abandons the line).
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        loop {
            let line = if let Some(ed) = editor.as_mut() {
                match tokio::task::block_in_place(|| ed.read_line("sftp> ")) {
                    Ok(Input::Line(l)) => {
                        ed.add_history(&l);
                        l
                    }
                    Ok(Input::Interrupted) => continue,
                    Ok(Input::Eof) => return 0,
                    Err(e) => {
                        eprintln!("reading commands: {e}");
                        return 1;
                    }
                }
            } else {
                match lines.next_line().await {
                    Ok(Some(l)) => l,
                    Ok(None) => return 0,
                    Err(e) => {
                        eprintln!("reading commands: {e}");
                        return 1;
                    }
                }
            };
            let mut cmd = line.trim();
            if cmd.is_empty() || cmd.starts_with('#') {
                continue;
            }
            let mut ignore_error = batch.is_none();
            let mut echo = batch.is_some();
            loop {
                if let Some(rest) = cmd.strip_prefix('-') {
                    ignore_error = true;
                    cmd = rest;
                } else if let Some(rest) = cmd.strip_prefix('@') {
                    echo = false;
                    cmd = rest;
                } else {
                    break;
                }
            }
            if echo {
                println!("sftp> {cmd}");
            }
            let result = match interrupt.as_mut() {
                Some(sigint) => {
                    discard_pending(sigint);
                    tokio::select! {
                        biased;
                        r = self.execute(cmd) => r,
                        _ = sigint.recv() => Err("\rInterrupt  ".to_string()),
                    }
                }
                None => self.execute(cmd).await,
            };
            match result {
                Ok(true) => {}
                Ok(false) => return 0,
                Err(e) => {
                    eprintln!("{e}");
                    if !ignore_error {
                        return 1;
                    }
                }
            }
        }
    }

    /// Runs one command; `Ok(false)` to quit.
    ///
    /// Dropping the future stops the command where it is: a transfer's files are closed
    /// and replies still on their way are discarded when they come.
    pub(crate) async fn execute(&mut self, line: &str) -> Result<bool, String> {
        if let Some(cmd) = line.strip_prefix('!') {
            let cmd = if cmd.trim().is_empty() {
                std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())
            } else {
                cmd.to_string()
            };
            let st = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .status()
                .map_err(|e| format!("Couldn't execute {cmd}: {e}"))?;
            if !st.success() {
                return Err(format!(
                    "Shell exited with status {}",
                    st.code().unwrap_or(-1)
                ));
            }
            return Ok(true);
        }
        let w = words(line)?;
        let Some(name) = w.first().map(String::as_str) else {
            return Ok(true);
        };
        let e = |x: whelk_tokio::sftp::Error| x.to_string();
        match name {
            "bye" | "exit" | "quit" => return Ok(false),
            "help" | "?" => print!("{HELP}"),
            "version" => println!("SFTP protocol version 3"),
            "progress" => {
                self.progress = !self.progress;
                println!(
                    "Progress meter {}",
                    if self.progress { "enabled" } else { "disabled" }
                );
            }
            "pwd" => println!("Remote working directory: {}", self.cwd),
            "lpwd" => println!(
                "Local working directory: {}",
                std::env::current_dir()
                    .map_err(|x| x.to_string())?
                    .display()
            ),
            "cd" => {
                let p = self.abs(w.get(1).map_or("~", String::as_str));
                let p = if p.ends_with("/~") || p == "~" {
                    self.sftp.realpath(".").await.map_err(e)?
                } else {
                    p
                };
                let real = self.sftp.realpath(&p).await.map_err(e)?;
                if !self.sftp.isdir(&real).await.map_err(e)? {
                    return Err(format!(
                        "Can't change directory: \"{real}\" is not a directory"
                    ));
                }
                self.cwd = real;
            }
            "lcd" => {
                let p = w
                    .get(1)
                    .map_or_else(crate::common::home, |s| crate::common::expand_tilde(s));
                std::env::set_current_dir(&p).map_err(|x| {
                    format!(
                        "Couldn't change local directory to \"{}\": {x}",
                        p.display()
                    )
                })?;
            }
            "lmkdir" => {
                let p = w
                    .get(1)
                    .ok_or("You must specify a path after a lmkdir command.")?;
                std::fs::create_dir(p)
                    .map_err(|x| format!("Couldn't create local directory \"{p}\": {x}"))?;
            }
            "lls" => {
                let rest = line.trim_start().strip_prefix("lls").unwrap_or("");
                let st = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(format!("ls {rest}"))
                    .status()
                    .map_err(|x| x.to_string())?;
                if !st.success() {
                    return Err("lls failed".into());
                }
            }
            "ls" | "dir" => self.ls(&w).await?,
            "mkdir" => {
                let p = w
                    .get(1)
                    .ok_or("You must specify a path after a mkdir command.")?;
                self.sftp.mkdir(&self.abs(p), None).await.map_err(e)?;
            }
            "rmdir" => {
                let p = w
                    .get(1)
                    .ok_or("You must specify a path after a rmdir command.")?;
                self.sftp.rmdir(&self.abs(p)).await.map_err(e)?;
            }
            "rm" => {
                let (_, rest) = flags(w.get(1..).unwrap_or_default());
                let p = rest
                    .first()
                    .ok_or("You must specify a path after a rm command.")?;
                for m in self.expand(p).await? {
                    if !self.quiet {
                        println!("Removing {m}");
                    }
                    self.sftp.remove(&m).await.map_err(e)?;
                }
            }
            "rename" => {
                let (f, rest) = flags(w.get(1..).unwrap_or_default());
                let (Some(a), Some(b)) = (rest.first(), rest.get(1)) else {
                    return Err("You must specify two paths after a rename command.".into());
                };
                let (a, b) = (self.abs(&unglob(a)), self.abs(&unglob(b)));
                if f.contains('l') {
                    self.sftp.rename(&a, &b).await.map_err(e)?;
                } else if self.sftp.supports("posix-rename@openssh.com") {
                    self.sftp.posix_rename(&a, &b).await.map_err(e)?;
                } else {
                    self.sftp.rename(&a, &b).await.map_err(e)?;
                }
            }
            "ln" | "symlink" => {
                let (f, rest) = flags(w.get(1..).unwrap_or_default());
                let (Some(a), Some(b)) = (rest.first(), rest.get(1)) else {
                    return Err(format!(
                        "You must specify two paths after a {name} command."
                    ));
                };
                let b = self.abs(&unglob(b));
                if name == "symlink" || f.contains('s') {
                    // The target is stored as given (relative targets stay relative).
                    self.sftp.symlink(&unglob(a), &b).await.map_err(e)?;
                } else {
                    self.sftp.link(&self.abs(&unglob(a)), &b).await.map_err(e)?;
                }
            }
            "cp" => {
                let (f, rest) = flags(w.get(1..).unwrap_or_default());
                let (Some(a), Some(b)) = (rest.first(), rest.get(1)) else {
                    return Err("You must specify two paths after a cp command.".into());
                };
                let opts = self.opts(&f, false);
                let b = self.abs(&unglob(b));
                for m in self.expand(a).await? {
                    self.sftp.copy(&m, &b, &opts).await.map_err(e)?;
                }
            }
            "chmod" | "chown" | "chgrp" => {
                let (_, rest) = flags(w.get(1..).unwrap_or_default());
                let (Some(v), Some(p)) = (rest.first(), rest.get(1)) else {
                    return Err(format!(
                        "You must supply a numeric argument to the {name} command."
                    ));
                };
                let num = if name == "chmod" {
                    u32::from_str_radix(v, 8)
                } else {
                    v.parse::<u32>()
                }
                .map_err(|_| {
                    format!("You must supply a numeric argument to the {name} command.")
                })?;
                for m in self.expand(p).await? {
                    match name {
                        "chmod" => {
                            if !self.quiet {
                                println!("Changing mode on {m}");
                            }
                            self.sftp.chmod(&m, num).await.map_err(e)?;
                        }
                        _ => {
                            let a = self.sftp.stat(&m).await.map_err(e)?;
                            let (uid, gid) = a.uid_gid.ok_or("server sent no owner")?;
                            let ids = if name == "chown" {
                                (num, gid)
                            } else {
                                (uid, num)
                            };
                            if !self.quiet {
                                println!(
                                    "Changing {} on {m}",
                                    if name == "chown" { "owner" } else { "group" }
                                );
                            }
                            self.sftp.chown(&m, ids.0, ids.1).await.map_err(e)?;
                        }
                    }
                }
            }
            "df" => {
                let (f, rest) = flags(w.get(1..).unwrap_or_default());
                let p = self.abs(rest.first().map_or(".", String::as_str));
                let v = self.sftp.statvfs(&p).await.map_err(e)?;
                if f.contains('i') {
                    println!(
                        "{:>12} {:>12} {:>12} {:>12} %Capacity",
                        "Inodes", "Used", "Avail", "(root)"
                    );
                    let used = v.files.saturating_sub(v.ffree);
                    let pct = (used * 100).checked_div(v.files).unwrap_or(0);
                    println!(
                        "{:>12} {:>12} {:>12} {:>12} {pct:>8}%",
                        v.files, used, v.favail, v.ffree
                    );
                } else {
                    let fr = v.frsize.max(1);
                    let (size, free, avail) = (v.blocks * fr, v.bfree * fr, v.bavail * fr);
                    let used = size.saturating_sub(free);
                    let pct = (used * 100).checked_div(size).unwrap_or(0);
                    if f.contains('h') {
                        println!(
                            "{:>8} {:>8} {:>8} {:>8} %Capacity",
                            "Size", "Used", "Avail", "(root)"
                        );
                        println!(
                            "{:>8} {:>8} {:>8} {:>8} {pct:>8}%",
                            human(size),
                            human(used),
                            human(avail),
                            human(free)
                        );
                    } else {
                        println!(
                            "{:>12} {:>12} {:>12} {:>12} %Capacity",
                            "Size", "Used", "Avail", "(root)"
                        );
                        println!(
                            "{:>12} {:>12} {:>12} {:>12} {pct:>8}%",
                            size / 1024,
                            used / 1024,
                            avail / 1024,
                            free / 1024
                        );
                    }
                }
            }
            "get" | "reget" => self.get(&w, name == "reget").await?,
            "put" | "reput" => self.put(&w, name == "reput").await?,
            other => return Err(format!("Invalid command \"{other}\".")),
        }
        Ok(true)
    }

    fn opts(&self, f: &str, resume: bool) -> TransferOptions {
        let mut o = self.defaults.clone();
        o.recursive |= f.contains('r') || f.contains('R');
        o.preserve |= f.contains('p') || f.contains('P');
        o.resume |= resume || f.contains('a');
        if self.progress {
            o.progress = Some(progress_bars());
        }
        o
    }

    /// Expands a remote pattern (relative to the working directory).
    async fn expand(&self, pattern: &str) -> Result<Vec<String>, String> {
        let p = self.abs(pattern);
        if !glob::has_magic(pattern) {
            return Ok(vec![unglob(&p)]);
        }
        let m = self.sftp.glob(&p).await.map_err(|x| x.to_string())?;
        if m.is_empty() {
            return Err(format!("File \"{p}\" not found."));
        }
        Ok(m)
    }

    async fn get(&mut self, w: &[String], resume: bool) -> Result<(), String> {
        let (f, rest) = flags(w.get(1..).unwrap_or_default());
        let Some(src) = rest.first() else {
            return Err("You must specify at least one path after a get command.".into());
        };
        let opts = self.opts(&f, resume);
        let matches = self.expand(src).await?;
        let local = rest.get(1).map(PathBuf::from);
        if matches.len() > 1 && !local.as_ref().is_none_or(|l| l.is_dir()) {
            return Err(format!(
                "Multiple source paths, but destination \"{}\" is not a directory",
                local
                    .as_ref()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default()
            ));
        }
        for m in matches {
            let base = whelk_tokio_basename(&m);
            let target = match &local {
                Some(l) if l.is_dir() => l.join(&base),
                Some(l) => l.clone(),
                None => PathBuf::from(&base),
            };
            let attrs: Attrs = self.sftp.stat(&m).await.map_err(|x| format!("{m}: {x}"))?;
            if attrs.is_dir() && !opts.recursive {
                return Err(format!("Cannot download non-regular file: {m}"));
            }
            if !self.quiet {
                println!("Fetching {m} to {}", target.display());
            }
            self.sftp
                .download(&m, &target, &opts)
                .await
                .map_err(|x| x.to_string())?;
        }
        Ok(())
    }

    async fn put(&mut self, w: &[String], resume: bool) -> Result<(), String> {
        let (f, rest) = flags(w.get(1..).unwrap_or_default());
        let Some(src) = rest.first() else {
            return Err("You must specify at least one path after a put command.".into());
        };
        let opts = self.opts(&f, resume);
        let matches = glob::local_glob(src).map_err(|x| x.to_string())?;
        if matches.is_empty() {
            return Err(format!("File \"{src}\" not found."));
        }
        let remote = rest.get(1).map(|r| self.abs(&unglob(r)));
        let into_dir = match &remote {
            Some(r) => self.sftp.isdir(r).await.map_err(|x| x.to_string())?,
            None => true,
        };
        if matches.len() > 1 && !into_dir {
            return Err("Multiple paths match, but destination is not a directory".into());
        }
        for m in matches {
            let name = m
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = match &remote {
                Some(r) if into_dir => format!("{}/{name}", r.trim_end_matches('/')),
                Some(r) => r.clone(),
                None => self.abs(&name),
            };
            if m.is_dir() && !opts.recursive {
                return Err(format!("Cannot upload non-regular file: {}", m.display()));
            }
            if !self.quiet {
                println!("Uploading {} to {target}", m.display());
            }
            self.sftp
                .upload(&m, &target, &opts)
                .await
                .map_err(|x| x.to_string())?;
        }
        Ok(())
    }

    async fn ls(&self, w: &[String]) -> Result<(), String> {
        let (f, rest) = flags(w.get(1..).unwrap_or_default());
        let long = f.contains('l') || f.contains('n');
        let all = f.contains('a');
        let e = |x: whelk_tokio::sftp::Error| x.to_string();
        let target = rest.first().map_or(".", String::as_str);
        let path = self.abs(target);
        let mut entries: Vec<(String, String)> = Vec::new();
        if glob::has_magic(target) {
            for m in self.expand(target).await? {
                let a = self.sftp.lstat(&m).await.map_err(e)?;
                entries.push((m.clone(), longname(&m, &a)));
            }
        } else {
            let a = self
                .sftp
                .stat(&path)
                .await
                .map_err(|x| format!("Can't ls: \"{path}\": {x}"))?;
            if a.is_dir() {
                let dir = self.sftp.opendir(&path).await.map_err(e)?;
                while let Some(batch) = self.sftp.readdir(&dir).await.map_err(e)? {
                    for n in batch {
                        let name = n.filename.to_string_lossy().into_owned();
                        if !all && name.starts_with('.') {
                            continue;
                        }
                        let shown = if target == "." {
                            name.clone()
                        } else {
                            format!("{}/{name}", target.trim_end_matches('/'))
                        };
                        let ln = if n.longname.is_empty() {
                            longname(&shown, &n.attrs)
                        } else {
                            n.longname.to_string_lossy().into_owned()
                        };
                        entries.push((shown, ln));
                    }
                }
                self.sftp.closedir(dir).await.map_err(e)?;
            } else {
                entries.push((target.to_string(), longname(target, &a)));
            }
        }
        entries.sort();
        for (name, ln) in entries {
            if long {
                println!("{ln}");
            } else {
                println!("{name}");
            }
        }
        Ok(())
    }
}

/// Forgets interrupts that came while no command ran (at the prompt, or during a `!`
/// command, which runs the shell on this thread).
fn discard_pending(sigint: &mut Signal) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while let std::task::Poll::Ready(Some(())) = sigint.poll_recv(&mut cx) {}
}

fn whelk_tokio_basename(p: &str) -> String {
    let t = p.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn longname(name: &str, a: &Attrs) -> String {
    let mode = a.permissions.unwrap_or(0);
    let (uid, gid) = a.uid_gid.unwrap_or((0, 0));
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {name}",
        whelk_sftp::fs::mode_string(mode),
        1,
        uid,
        gid,
        a.size.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(
            words("put 'a b' c\\ d \"e\\\"f\"").unwrap(),
            ["put", "a b", "c d", "e\"f"]
        );
        assert_eq!(words("get x\\*").unwrap(), ["get", "x\\*"]);
        assert!(words("get 'x").is_err());
        let (f, r) = flags(&["-pr".to_string(), "x".to_string()]);
        assert_eq!((f.as_str(), r), ("pr", vec!["x".to_string()]));
    }
}
