//! The destroy confirmation typed at the terminal. The read runs off the async threads and loses
//! to a signal: a Ctrl-C at the prompt stops the run instead of waiting for a line.

use std::io::BufRead as _;

use crate::contract::Stack;
use crate::s3state::StateFacts;
use crate::{signals, ui};

/// Ask to type the stack name; `Ok(true)` when it was typed exactly.
pub async fn confirm_destroy(stack: &Stack, env: &str, facts: Option<&StateFacts>) -> std::io::Result<bool> {
    let what = match facts {
        Some(f) if f.exists => format!(
            "`s3://{}/{}`: {} resource instance(s), state serial {}",
            f.bucket,
            f.key,
            f.instances.unwrap_or(0),
            f.serial.unwrap_or(0)
        ),
        Some(f) => format!("`s3://{}/{}`: no state yet", f.bucket, f.key),
        None => "state not looked up".to_string(),
    };
    ui::err_raw(&format!(
        "destroy every resource of `{}` in `{env}` ({what})? type the stack name to confirm: ",
        stack.name
    ));
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map(|_| answer)
    });
    tokio::select! {
        answer = read => {
            let answer = answer.map_err(std::io::Error::other)??;
            Ok(answer.trim() == stack.name)
        }
        sig = signals::any() => {
            ui::err("");
            Err(std::io::Error::new(std::io::ErrorKind::Interrupted, format!("{} at the prompt", sig.name())))
        }
    }
}
