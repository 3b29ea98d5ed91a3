/**
 * Final flush when a process ends normally. One set of process listeners is shared by every manager
 * that asked for it, so that "does the app have a listener of its own?" can be answered by counting.
 *
 * - `beforeExit` (the event loop ran dry; our sockets and timer are unref()ed, so that is a normal
 *   end): every registered manager shuts down. The flush's own timer holds the loop until it is done.
 * - SIGTERM / SIGINT: Node's default is to die at once, losing up to one flush interval of data. If
 *   ours is the only listener, our listeners are removed, the managers shut down (each bounded by
 *   its `shutdownTimeoutMs`) and the signal is raised again, so the process still ends by that
 *   signal (exit status and parent supervisors see what they would without us, and a second Ctrl-C
 *   during the final flush ends the process at once). If the app has a
 *   listener of its own, the app owns its shutdown: we do nothing, and it must
 *   `await manager.shutdown()` before it exits.
 *
 * `process.exit()` and SIGKILL cannot be hooked: what was not flushed then is lost.
 */
export interface ExitParticipant {
  shutdown(): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
const participants = new Set<ExitParticipant>();
let isInstalled = false;

export function registerExitHook(participant: ExitParticipant): void {
  participants.add(participant);
  install();
}

export function unregisterExitHook(participant: ExitParticipant): void {
  participants.delete(participant);
  if (participants.size === 0) uninstall();
}

function shutdownAll(): Promise<void> {
  const all = [...participants];
  participants.clear();
  return Promise.allSettled(all.map((p) => p.shutdown())).then(() => undefined);
}

function onBeforeExit(): void {
  if (participants.size > 0) void shutdownAll().finally(uninstall);
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener: the app decides when to exit (and should await shutdown()).
  if (process.listenerCount(signal) > 1) return;
  uninstall();
  void shutdownAll().finally(() => process.kill(process.pid, signal));
}

function install(): void {
  if (isInstalled) return;
  isInstalled = true;
  process.on('beforeExit', onBeforeExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!isInstalled) return;
  isInstalled = false;
  process.off('beforeExit', onBeforeExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
