#!/usr/bin/env python3
# Goal: docs/grafana-dashboard.json imports as is and every query in it (and in docs/alerts.yml)
# names series a live holdfastd exports and parses in Prometheus.
# Method: load the JSON; check the structure Grafana needs (title, uid, unique panel ids, a
# datasource and at least one target per panel, the datasource variable); check the panels the
# issue asks for are there; collect every holdfast_* name used by the dashboard and the alert
# rules and require each in the exposition text of a real scrape (the latency histogram is the
# one documented placeholder); then run every dashboard query through Prometheus's
# /api/v1/query and require status "success".
#   check_dashboard.py DASHBOARD.json ALERTS.yml METRICS.txt PROMETHEUS_PORT
import json, re, sys, urllib.parse, urllib.request

dash_path, alerts_path, metrics_path, port = sys.argv[1:5]
dash = json.load(open(dash_path))
fail = []
for key in ("title", "uid", "panels", "templating", "schemaVersion"):
    if key not in dash:
        fail.append(f"dashboard has no '{key}'")
ids = [p["id"] for p in dash["panels"]]
if len(ids) != len(set(ids)):
    fail.append("panel ids are not unique")
if not any(v["type"] == "datasource" and v["name"] == "datasource"
           for v in dash["templating"]["list"]):
    fail.append("no datasource variable: the dashboard would not import as is")
exprs = []
for p in dash["panels"]:
    if p.get("datasource", {}).get("uid") != "${datasource}":
        fail.append(f"panel '{p['title']}' does not use the datasource variable")
    if not p.get("targets"):
        fail.append(f"panel '{p['title']}' has no query")
    exprs += [t["expr"] for t in p.get("targets", [])]
titles = " | ".join(p["title"].lower() for p in dash["panels"])
for want in ("throughput by op", "errors by status", "p99 latency", "seats by state",
             "sync time", "connections"):
    if want not in titles:
        fail.append(f"no panel about '{want}'")

exported = set()
for line in open(metrics_path):
    m = re.match(r"(holdfast_[a-z0-9_]+)", line)
    if m and not line.startswith("#"):
        exported.add(m.group(1))
placeholder = {"holdfast_op_latency_seconds_bucket"}
alert_text = open(alerts_path).read()
alert_exprs = re.findall(r"expr: >?\s*\n?((?:.+\n?)+?)\s*(?:for|labels):", alert_text)
used = set()
for e in exprs + alert_exprs:
    used |= set(re.findall(r"holdfast_[a-z0-9_]+", e))
for name in sorted(used - exported - placeholder):
    fail.append(f"'{name}' is used by the dashboard or the alerts but not exported")

def query(e):
    q = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r).get("status")
    except Exception as ex:  # a 400 from Prometheus is a parse error
        return f"error: {ex}"
for e in exprs:
    st = query(e)
    if st != "success":
        fail.append(f"Prometheus refused '{e}': {st}")
for f in fail:
    print("FAIL:", f, file=sys.stderr)
print(f"dashboard: {len(dash['panels'])} panels, {len(exprs)} queries, {len(used)} series names "
      f"checked against the scrape")
sys.exit(1 if fail else 0)
