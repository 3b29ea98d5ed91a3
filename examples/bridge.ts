// Metrics made with prom-client itself (including collectDefaultMetrics()) reach the cluster-wide
// view through the registry bridge, with no change to the code that made them. Under the launcher
// the bridge is on by default (PROM_CLIENT_REDIS_BRIDGE=false turns it off).
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/bridge.js
//
// Expected output (on an empty Redis; the pid label is host:pid:nonce of this process):
//
//   legacy_jobs_total 5
//   legacy_temperature_celsius{pid="myhost:41250:1a2b3c4d"} 21.5
//   process_cpu_user_seconds_total is mirrored: true
import * as prom from 'prom-client';
import { RedisStorageManager, RegistryBridge } from 'prom-client-redis';

// Code that knows nothing of Redis:
prom.collectDefaultMetrics();
new prom.Counter({ name: 'legacy_jobs_total', help: 'Jobs.' }).inc(5);
new prom.Gauge({ name: 'legacy_temperature_celsius', help: 'Temperature.' }).set(21.5);

const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-bridge' });
const bridge = new RegistryBridge({ storage, gaugeMode: 'liveall' }).start();
await storage.waitUntilConnected(5000);
await bridge.sync(); // the timer does this every flush interval
await storage.flush();
const text = await storage.getCollector().metrics();
console.log(text.split('\n').filter((l) => /^legacy_(jobs_total|temperature_celsius)[ {]/.test(l)).join('\n'));
console.log(`process_cpu_user_seconds_total is mirrored: ${/^process_cpu_user_seconds_total \d/m.test(text)}`);
await bridge.stop();
await storage.shutdown();
