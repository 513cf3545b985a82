//! sqlx 0.9.1 and later (the workspace's minimum) set `TCP_NODELAY` on every PostgreSQL
//! connection, with TLS and without; 0.9.0 did not. Without it, a statement whose message
//! spans several writes (a bound array over one TLS record, every COPY's `CopyDone`)
//! waits ~40 ms for the server's delayed ACK.
//!
//! Checked on the socket itself, not on a clock: the server names the client port of a
//! pool connection, `/proc/net/tcp` the socket's inode, `/proc/self/fd` the file
//! descriptor, and `getsockopt` the option (Linux).

use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sea_orm::sqlx::{Row, query};

use crate::postgres;

/// Whether the socket of this process whose local port is `port` has `TCP_NODELAY` set.
#[cfg(target_os = "linux")]
fn tcp_nodelay(port: u16) -> bool {
    let tables = ["/proc/self/net/tcp", "/proc/self/net/tcp6"];
    let inode = tables
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| table.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(local_port, 16).ok()? == port).then(|| fields[9].to_owned())
        })
        .unwrap_or_else(|| panic!("no socket with local port {port} in /proc/self/net/tcp*"));
    let target = format!("socket:[{inode}]");
    let fd = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(Result::ok)
        .find(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|link| link.to_string_lossy() == target)
        })
        .and_then(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .unwrap_or_else(|| panic!("no file descriptor for {target}"));
    let mut value: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket of this process; `value` and `size` are valid for
    // the kernel to write one int.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&mut value as *mut libc::c_int).cast(),
            &mut size,
        )
    };
    assert_eq!(status, 0, "getsockopt on fd {fd}");
    value != 0
}

/// The client port of a connection of `options`, which stays open in the returned pool.
async fn client_port(options: PgConnectOptions) -> (sea_orm::sqlx::PgPool, u16) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("connect");
    let row = query("SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("client_port");
    let port: i32 = row.get(0);
    (pool, u16::try_from(port).expect("a TCP port"))
}

#[cfg(target_os = "linux")]
async fn postgres_connections_set_tcp_nodelay(db: &DatabaseConnection) {
    let options = (*db.get_postgres_connection_pool().connect_options()).clone();
    if options.get_host().starts_with('/') {
        return; // a Unix socket: no TCP, no Nagle
    }
    for ssl in [PgSslMode::Disable, PgSslMode::Prefer] {
        let (pool, port) = client_port(options.clone().ssl_mode(ssl)).await;
        assert!(
            tcp_nodelay(port),
            "TCP_NODELAY is off on a connection with {ssl:?}"
        );
        pool.close().await;
    }
}
#[cfg(target_os = "linux")]
postgres!(postgres_connections_set_tcp_nodelay);
