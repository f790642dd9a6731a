//! Concurrent writers to one table and to many tables.

use crate::harness::Server;
use std::sync::Arc;

#[test]
fn concurrent_writers_lose_nothing() {
    let s = Arc::new(Server::start());
    const THREADS: usize = 8;
    const REQUESTS: usize = 25;
    const ROWS: usize = 200;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for r in 0..REQUESTS {
                    let mut body = String::new();
                    for i in 0..ROWS {
                        let ts = (r * ROWS + i) as i64;
                        // Same table from every thread, plus one table per thread.
                        body.push_str(&format!(
                            "shared,writer=w{t},host=h{} v={i}i {ts}\n",
                            i % 13
                        ));
                        body.push_str(&format!("own_{t},host=h{} v={i}i {ts}\n", i % 13));
                    }
                    let (st, resp) = s.post("/api/v3/write_lp?db=c&precision=ns", body);
                    assert_eq!(st, 204, "{resp}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.count("c", "shared") as usize, THREADS * REQUESTS * ROWS);
    for t in 0..THREADS {
        assert_eq!(s.count("c", &format!("own_{t}")) as usize, REQUESTS * ROWS);
    }
    let rows = s.sql(
        "c",
        "SELECT count(DISTINCT writer) AS w, count(DISTINCT host) AS h FROM shared",
    );
    assert_eq!(rows[0]["w"], THREADS as i64);
    assert_eq!(rows[0]["h"], 13);
}
