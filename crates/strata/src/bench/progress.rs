//! Live progress of `strata bench write` and `strata bench query` on stderr: a
//! progress bar with the current rate (rows/s, queries/s) when stderr is a
//! terminal, otherwise one line every 5 s.

use super::report::thousands;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Counters the connections bump after every answer.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// What the run counts ([`Label::unit`]): acknowledged rows, answered queries.
    pub(crate) done: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Notified once when the run is over ([`Live::finish`]).
    over: Notify,
}

impl Live {
    /// The run is over: the reporter clears its bar and returns at once.
    pub(crate) fn finish(&self) {
        // Stores a permit if the reporter is not waiting yet.
        self.over.notify_one();
    }
}

/// How far along the run is: by count (`--rows`, `--queries`) or by time
/// (`--duration`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal {
    Count(u64),
    Time(Duration),
}

/// What the progress line says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Label {
    /// Shown first (e.g. the query type); may be empty.
    pub(crate) prefix: &'static str,
    /// What [`Live::done`] counts, plural: "rows", "queries".
    pub(crate) unit: &'static str,
}

/// Reports until [`Live::finish`]; clears the bar at the end.
pub(crate) async fn report(live: Arc<Live>, start: Instant, goal: Goal, label: Label) {
    let tty = std::io::stderr().is_terminal();
    let tick = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let bar = tty.then(|| {
        let len = match goal {
            Goal::Count(n) => n,
            Goal::Time(d) => d.as_millis() as u64,
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:30.cyan/blue} {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    // Samples of the last ~2 s, for a steady live rate.
    let mut window: VecDeque<(Instant, u64)> = VecDeque::new();
    window.push_back((start, 0));
    let mut interval = tokio::time::interval(tick);
    interval.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = live.over.notified() => break,
        }
        let now = Instant::now();
        let rows = live.done.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        window.push_back((now, rows));
        while window.len() > 2 && now.duration_since(window[0].0) > Duration::from_secs(2) {
            window.pop_front();
        }
        let (t0, r0) = window[0];
        let secs = now.duration_since(t0).as_secs_f64();
        let rate = if secs > 0.0 {
            (rows - r0) as f64 / secs
        } else {
            0.0
        };
        let elapsed = now.duration_since(start);
        let prefix = if label.prefix.is_empty() {
            String::new()
        } else {
            format!("{}  ", label.prefix)
        };
        let unit = label.unit;
        let msg = format!(
            "{prefix}{:.1} s  {} {unit}  {} {unit}/s  {} errors",
            elapsed.as_secs_f64(),
            thousands(rows),
            thousands(rate.round() as u64),
            thousands(errors)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(match goal {
                    Goal::Count(_) => rows,
                    Goal::Time(_) => elapsed.as_millis() as u64,
                });
                bar.set_message(msg);
            }
            None => eprintln!("bench: {msg}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
