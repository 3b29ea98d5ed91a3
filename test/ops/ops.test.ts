// The operations kit in ops/: the alerting rules pass promtool's check and their unit tests, and
// every query of the Grafana dashboard parses (each turned into a recording rule for promtool).
// Every metric the rules and the dashboard name is one this package makes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/reaper.js';
import { RedisStorageManager, selfMetricsFor, httpMetricsFor, ProcessMetrics } from '../../src/index.js';
import { LAUNCHER_METRIC_NAMES } from '../../src/integrations/launcher.js';

const OPS = fileURLToPath(new URL('../../../ops/', import.meta.url));
const RULES = join(OPS, 'prometheus/alerts.yml');
const RULE_TESTS = join(OPS, 'prometheus/alerts.test.yml');
const DASHBOARD = join(OPS, 'grafana/prom-client-redis.json');

function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }));
  });
}

interface Panel {
  title: string;
  type: string;
  datasource?: { uid: string };
  targets?: { refId: string; expr: string; datasource: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { name: string }[] } };
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

/** Grafana's variables, as Prometheus would see them once Grafana has put in their values. */
function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replaceAll('$job', '.*');
}

/** Metric names in a PromQL expression: our prefixes, less a histogram's series suffix. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:http|worker|launcher|prom_client_redis)_[a-z_]+)\b/g)].map((m) => m[1]!);
}

function familyOf(name: string, families: ReadonlySet<string>): string {
  if (families.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return families.has(base) ? base : name;
}

describe('ops/: alerting rules and Grafana dashboard', () => {
  it('promtool check rules passes on the alerting rules', async () => {
    assert.deepEqual(await promtool('check', 'rules', RULES), { code: 0, output: `Checking ${RULES}\n  SUCCESS: 14 rules found\n\n` });
  });

  it('promtool test rules passes, and every alert has a test where it fires', async () => {
    assert.deepEqual(await promtool('test', 'rules', RULE_TESTS), { code: 0, output: `Unit Testing:  ${RULE_TESTS}\n  SUCCESS\n\n` });
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^ {6}- alert: (\w+)$/gm)].map((m) => m[1]!);
    // An alertname followed by exp_labels before the next alertname: a test where it fires.
    const firing = new Set([...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:/g)].map((m) => m[1]!));
    assert.equal(alerts.length, 14);
    assert.deepEqual(alerts.filter((a) => !firing.has(a)), []);
  });

  it('every dashboard query parses: all of them as recording rules through promtool check rules', async () => {
    assert.equal(queries.length, 25);
    const lines = ['groups:', '  - name: dashboard-queries', '    rules:'];
    queries.forEach((q, i) => lines.push(`      - record: dashboard:query_${i + 1}:${q.refId.toLowerCase()}`, `        expr: ${JSON.stringify(asPromql(q.expr))}`));
    const file = join(makeTempDir('dashboard-rules'), 'dashboard.rules.yml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    assert.deepEqual(await promtool('check', 'rules', file), { code: 0, output: `Checking ${file}\n  SUCCESS: 25 rules found\n\n` });
  });

  it('every dashboard panel and query reads the data source variable; the variables are datasource and job', () => {
    assert.deepEqual(dashboard.templating.list.map((v) => v.name), ['datasource', 'job']);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.equal(panel.datasource?.uid, '${datasource}', panel.title);
      for (const target of panel.targets ?? []) {
        assert.equal(target.datasource.uid, '${datasource}', panel.title);
        assert.match(target.expr, /\{job=~"\$job"[,}]/, `${panel.title}: ${target.expr}`);
      }
    }
  });

  it('every metric the rules and the dashboard name is one the package makes', () => {
    const storage = new RedisStorageManager({ enabled: false });
    selfMetricsFor(storage).stop();
    httpMetricsFor(storage);
    new ProcessMetrics(storage).stop();
    const families = new Set([...storage.dict.families.keys(), ...Object.values(LAUNCHER_METRIC_NAMES)]);
    const named = new Set([...metricNames(readFileSync(RULES, 'utf8')), ...queries.flatMap((q) => metricNames(q.expr))].map((n) => familyOf(n, families)));
    assert.deepEqual([...named].filter((n) => !families.has(n)).sort(), []);
    // And the kit covers each family an operator acts on.
    assert.deepEqual([...families].filter((f) => !named.has(f)).sort(), []);
  });
});
