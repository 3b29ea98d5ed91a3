// Free TCP ports on 127.0.0.1, chosen by the kernel (bind to port 0).
//
// There is a window between closing the probe socket and the server binding the port, in which
// another process could take it; startRedis() retries with a new port when that happens.
import { createServer, type Server } from 'node:net';

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Expected a TCP address');
  return address.port;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = await listenOnAnyPort();
  const port = portOf(server);
  await close(server);
  return port;
}

/** `count` distinct free ports: all probe sockets stay open until the last is bound. */
export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 0) {
    throw new TypeError(`Expected \`count\` to be an integer >= 0, got \`${count}\``);
  }
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnAnyPort());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}
