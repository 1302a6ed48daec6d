#!/usr/bin/env python3
"""Off-policy evaluation of a route, three ways, from a running Switchyard.

1. The route's own estimate: POST /_switchyard/ope/<route> (IPS and self-normalised IPS
   from its running sums).
2. An independent computation from the exported decision log
   (GET /_switchyard/decisions/<route>, every page), in plain Python.
3. Vowpal Wabbit's contextual-bandit evaluator on the same log written in its `--cb` text
   format (`vw --cb <k> --eval --cb_type ips`, once per arm the policy weights: IPS is linear
   in the policy, so the policy's value is the weighted sum of the arms' values).

It prints the three side by side and exits 1 when they disagree (relative 1e-6), 2 on a
usage or network error. The `--cb` file is kept with --vw-out (one line per decision:
`<evaluated arm> <logged arm>:<cost>:<propensity> | <context features>`, cost = -reward).

Usage (the operator token needs the operator role for the export):
  pip install vowpalwabbit            # 9.x; optional, --no-vw skips step 3
  python3 scripts/ope_check.py --url http://127.0.0.1:8787 --token "$SWITCHYARD_TOKEN" \\
      --route fraud --policy v1=0.9,v2=0.1 [--vw-out fraud.cb] [--no-vw]

Which decisions count follows the route's evidence as the endpoint reports it: with
conversion evidence every logged decision counts and a missing reward is a 0; otherwise only
decisions whose reward arrived. Rows sampled at a rate below 1 (beyond the log's full rate)
are weighted by 1/rate; Vowpal Wabbit takes no such weight, so step 3 is skipped for them.
The endpoint's sums cover every decision since the route's strategy last changed, the log
the last 24 h: the two agree when the log holds all of those decisions.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

Z95 = 1.959963984540054


def call(url, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def export(url, token, route):
    rows, after = [], None
    while True:
        q = "limit=10000" + (f"&after={urllib.parse.quote(after)}" if after else "")
        status, headers, body = call(url, token, "GET", f"/_switchyard/decisions/{route}?{q}")
        if status != 200:
            raise SystemExit(f"decisions/{route}: HTTP {status}: {body[:300]}")
        rows += [json.loads(line) for line in body.splitlines() if line]
        after = {k.lower(): v for k, v in headers.items()}.get("x-switchyard-next")
        if not after:
            return rows


def parse_policy(s):
    out = {}
    for part in filter(None, (p.strip() for p in s.split(","))):
        arm, _, w = part.partition("=")
        out[arm.strip()] = float(w)
    total = sum(out.values())
    if not out or total <= 0 or any(w < 0 or not math.isfinite(w) for w in out.values()):
        raise SystemExit("--policy: expected arm=weight[,arm=weight...] with a positive total")
    return {a: w / total for a, w in out.items()}


def independent(rows, policy, all_decisions):
    """IPS and SNIPS with the endpoint's intervals, rows weighted by 1/sampling_rate."""
    counted = [r for r in rows if all_decisions or r["reward"] is not None]
    h = [1.0 / r["sampling_rate"] for r in counted]
    w = [policy.get(r["arm"], 0.0) / r["propensity"] for r in counted]
    y = [wi * (r["reward"] or 0.0) for wi, r in zip(w, counted)]
    n = sum(h)
    if n < 2:
        return n, None, None
    ips = sum(hi * yi for hi, yi in zip(h, y)) / n
    var = (sum(hi * yi * yi for hi, yi in zip(h, y)) - n * ips * ips) / (n - 1)
    ips_se = math.sqrt(max(var, 0.0) / n)
    sw = sum(hi * wi for hi, wi in zip(h, w))
    if sw <= 0:
        return n, (ips, ips_se), None
    sn = sum(hi * yi for hi, yi in zip(h, y)) / sw
    e2 = sum(hi * (wi * ((r["reward"] or 0.0) - sn)) ** 2 for hi, wi, r in zip(h, w, counted))
    sn_se = math.sqrt(max(e2, 0.0) / (n * (n - 1))) / (sw / n)
    return n, (ips, ips_se), (sn, sn_se)


def vw_lines(rows, arms, evaluated, all_decisions):
    """The `--cb` text of the counted rows with `evaluated` as the evaluated action."""
    idx = {a: i + 1 for i, a in enumerate(arms)}
    out = []
    for r in rows:
        if not all_decisions and r["reward"] is None:
            continue
        feats = " ".join(
            f"{k.replace(':', '_').replace('|', '_').replace(' ', '_')}={str(v).replace(' ', '_').replace('|', '_').replace(':', '_')}"
            for k, v in sorted((r.get("context") or {}).items())
            if v is not None
        )
        cost = -(r["reward"] or 0.0)
        out.append(f"{idx[evaluated]} {idx[r['arm']]}:{cost!r}:{r['propensity']!r} | {feats}")
    return out


def vw_ips(rows, arms, policy, all_decisions, keep):
    from vowpalwabbit import pyvw  # noqa: imported only when used

    value = 0.0
    for arm, share in policy.items():
        if share <= 0 or arm not in arms:
            continue
        lines = vw_lines(rows, arms, arm, all_decisions)
        if keep:
            with open(f"{keep}.{arm}" if len(policy) > 1 else keep, "w") as f:
                f.write("\n".join(lines) + "\n")
        vw = pyvw.Workspace(f"--cb {len(arms)} --eval --cb_type ips --quiet")
        for line in lines:
            vw.learn(line)
        loss = vw.get_sum_loss() / max(vw.get_weighted_examples(), 1)
        vw.finish()
        value += share * -loss
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("SWITCHYARD_URL", "http://127.0.0.1:8787"))
    ap.add_argument("--token", default=os.environ.get("SWITCHYARD_TOKEN"))
    ap.add_argument("--route", required=True)
    ap.add_argument("--policy", required=True, help="arm=weight[,arm=weight...]")
    ap.add_argument("--vw-out", help="keep the --cb file(s) here")
    ap.add_argument("--no-vw", action="store_true", help="skip Vowpal Wabbit")
    a = ap.parse_args()
    policy = parse_policy(a.policy)
    try:
        status, _, body = call(a.url, a.token, "POST", f"/_switchyard/ope/{a.route}", {"policy": policy})
        if status != 200:
            print(f"ope/{a.route}: HTTP {status}: {body[:300]}", file=sys.stderr)
            return 2
        doc = json.loads(body)
        rows = export(a.url, a.token, a.route)
    except (urllib.error.URLError, OSError) as e:
        print(f"{a.url}: {e}", file=sys.stderr)
        return 2
    all_decisions = doc["evidence"] == "conversion"
    arms = list(doc["policy"].keys())
    n, ips, sn = independent(rows, policy, all_decisions)
    print(f"route {a.route}, policy {policy}, evidence {doc['evidence']}: {len(rows)} logged rows")
    print(f"{'':22}{'n':>10}{'IPS':>12}{'95% low':>12}{'95% high':>12}{'SNIPS':>12}")

    def line(name, n, e_ips, e_sn):
        f = lambda v: f"{v:12.6f}" if v is not None else f"{'-':>12}"
        lo = e_ips[0] - Z95 * e_ips[1] if e_ips and e_ips[1] is not None else None
        hi = e_ips[0] + Z95 * e_ips[1] if e_ips and e_ips[1] is not None else None
        print(f"{name:22}{n:>10.0f}{f(e_ips[0] if e_ips else None)}{f(lo)}{f(hi)}{f(e_sn[0] if e_sn else None)}")

    e_ips = (doc["ips"]["estimate"], doc["ips"]["se"]) if doc["ips"] else None
    e_sn = (doc["snips"]["estimate"], doc["snips"]["se"]) if doc["snips"] else None
    line("endpoint", doc["n"], e_ips, e_sn)
    line("exported log", n, ips, sn)
    problems = []

    def same(a_, b_, what, tol=1e-6):
        if a_ is None or b_ is None:
            if a_ is not b_:
                problems.append(f"{what}: {a_} vs {b_}")
            return
        if abs(a_ - b_) > tol * max(1.0, abs(b_)):
            problems.append(f"{what}: {a_} vs {b_}")

    same(float(doc["n"]), n, "n")
    same(e_ips and e_ips[0], ips and ips[0], "IPS")
    same(e_ips and e_ips[1], ips and ips[1], "IPS standard error")
    same(e_sn and e_sn[0], sn and sn[0], "SNIPS")
    same(e_sn and e_sn[1], sn and sn[1], "SNIPS standard error")
    sampled = any(r["sampling_rate"] < 1 for r in rows)
    if a.no_vw:
        pass
    elif sampled:
        print("vowpal wabbit: skipped (rows sampled below rate 1 need weights --cb cannot carry)")
    else:
        try:
            v = vw_ips(rows, arms, policy, all_decisions, a.vw_out)
        except ImportError:
            print("vowpal wabbit: not installed (pip install vowpalwabbit), skipped", file=sys.stderr)
        else:
            line("vowpal wabbit --cb", n, (v, None), None)
            same(v, ips and ips[0], "IPS (vowpal wabbit)")
    if problems:
        print("MISMATCH: " + "; ".join(problems))
        return 1
    print("ok: the endpoint's estimates equal the independent computations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
