//! CPU time from `/proc`, in clock ticks (1/100 s): this process, the
//! PostgreSQL server's processes, the whole machine; and the load average.
//! Every per-process figure comes from [`stat_cpu_ticks`].
use std::{collections::HashMap, time::Duration};

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};

/// CPU time (user + system, all threads) in clock ticks (1/100 s), from a
/// `/proc/<pid>/stat` line; 0 if it cannot be read.
pub fn stat_cpu_ticks(stat: &str) -> u64 {
    // The command name (field 2) may hold spaces: count from its `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// Clock ticks as a duration.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}

/// This process's CPU time so far, in clock ticks (1/100 s).
pub fn own_cpu_ticks() -> u64 {
    stat_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// This process's CPU time so far.
pub fn own_cpu() -> Duration {
    ticks_to_duration(own_cpu_ticks())
}

/// CPU ticks used so far by the PostgreSQL server's processes on this
/// machine (all of them: the bench's database is the only busy one).
pub fn postgres_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .map(|stat| stat_cpu_ticks(&stat))
        .sum()
}

/// CPU ticks used so far by each server process serving `monitor`'s
/// PostgreSQL database (the backends of every connection to it; not the WAL
/// writer or checkpointer, which serve every database).
pub async fn backend_ticks(monitor: &DatabaseConnection) -> HashMap<i32, u64> {
    let rows = monitor
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        ))
        .await
        .unwrap_or_default();
    rows.iter()
        .filter_map(|row| row.try_get::<i32>("", "pid").ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, stat_cpu_ticks(&stat)))
        })
        .collect()
}

/// CPU time of a database's backends between two [`backend_ticks`].
pub fn backend_cpu(before: &HashMap<i32, u64>, after: &HashMap<i32, u64>) -> Duration {
    ticks_to_duration(
        after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
            .sum(),
    )
}

/// The machine's (busy, total) CPU ticks, all cores.
pub fn machine_cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The load averages over 1, 5 and 15 minutes.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
