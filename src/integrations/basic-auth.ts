// Basic auth against bcrypt hashes, as exporter-toolkit checks `basic_auth_users`. bcrypt is slow
// on purpose (~100 ms at cost 10, more in JavaScript): a scrape every second would burn a tenth of
// a core on it. So a (user, password) that matched is remembered, as an HMAC under a key made at
// start (the password itself is not kept), and compared in constant time; recent failures are
// remembered the same way, so a Prometheus with a wrong password costs one bcrypt, not one a scrape.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A bcrypt hash (cost 10) of random bytes nobody knows: an unknown user is checked against it, so
 * that the answer takes as long as for a known one and does not tell which users exist.
 */
const DECOY_HASH = '$2b$10$E8A43u4WTHVuDx4IarzBrebr9uMFEtBc9Ws9pzZ1PRjyqfgbWXoue';

/** Failures remembered; past it the oldest go first. */
const MAX_REMEMBERED_FAILURES = 100;

type Compare = (password: string, hash: string) => Promise<boolean>;

export class BasicAuth {
  readonly #users: ReadonlyMap<string, string>;
  readonly #key = randomBytes(32);
  /** User -> HMAC of the (user, password) that matched its hash last. */
  readonly #verified = new Map<string, Buffer>();
  readonly #refused = new Set<string>();
  /** One bcrypt at a time, as exporter-toolkit: a burst of bad logins queues instead of taking every core. */
  #queue: Promise<unknown> = Promise.resolve();
  #compare: Compare | undefined;
  /** bcrypt comparisons made (the rest came from memory); for tests and debugging. */
  bcryptChecks = 0;

  constructor(users: ReadonlyMap<string, string>) {
    this.#users = users;
  }

  get isEnabled(): boolean {
    return this.#users.size > 0;
  }

  /** Whether an `Authorization` header names a user and its password. Never rejects. */
  async check(header: string | undefined): Promise<boolean> {
    const credentials = parse(header);
    if (!credentials) return false;
    const { user, password } = credentials;
    const digest = createHmac('sha256', this.#key).update(user).update('\0').update(password).digest();
    const known = this.#verified.get(user);
    if (known && timingSafeEqual(known, digest)) return true;
    const id = digest.toString('base64');
    if (this.#refused.has(id)) return false;

    const hash = this.#users.get(user);
    const matched = await this.#bcrypt(password, hash ?? DECOY_HASH);
    if (matched && hash !== undefined) {
      this.#verified.set(user, digest);
      return true;
    }
    this.#refused.add(id);
    if (this.#refused.size > MAX_REMEMBERED_FAILURES) this.#refused.delete(this.#refused.values().next().value!);
    return false;
  }

  #bcrypt(password: string, hash: string): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      // Loaded on first use: only servers with basic_auth_users need it.
      this.#compare ??= (await import('bcryptjs')).default.compare;
      this.bcryptChecks++;
      return this.#compare(password, hash).catch(() => false);
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }
}

function parse(header: string | undefined): { user: string; password: string } | undefined {
  const m = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
