#!/usr/bin/env python3
"""Bytes per unit row of the route object's `units` table (crates/stats/src/stats_object.rs),
measured with the SQLite that Python links: N random 64-bit units in two arms under one split,
each with a few requests and maybe a reward, inserted in batches of 50 (as reports write them).

Run: python3 scripts/unit_rows_size.py [N]
"""
import os
import random
import sqlite3
import sys
import tempfile

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(20251207)
path = os.path.join(tempfile.mkdtemp(), "units.sqlite")
db = sqlite3.connect(path)
db.execute(
    "CREATE TABLE units (epoch INTEGER NOT NULL, unit INTEGER NOT NULL, arm TEXT NOT NULL, "
    "requests INTEGER NOT NULL, errors INTEGER NOT NULL, rewards INTEGER NOT NULL, reward_sum REAL NOT NULL, "
    "PRIMARY KEY (epoch, unit, arm)) WITHOUT ROWID")
rows = []
for i in range(n):
    unit = rng.getrandbits(64) - (1 << 63)
    arm = "canary" if rng.random() < 0.1 else "stable"
    requests = 1 + int(rng.paretovariate(1.8))
    rewards = 1 if rng.random() < 0.1 else 0
    rows.append((3, unit, arm, requests, 0, rewards, float(rewards)))
    if len(rows) == 50:
        db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        rows = []
db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
db.commit()
pages = db.execute("PRAGMA page_count").fetchone()[0]
size = db.execute("PRAGMA page_size").fetchone()[0]
print(f"sqlite {sqlite3.sqlite_version}: {n} unit rows, {pages * size} bytes, "
      f"{pages * size / n:.1f} bytes per row (page size {size})")
