import { connect, createServer, type Socket } from 'node:net';

/**
 * A loopback port that is closed (a connect to it is refused) and held so until release(): the local
 * end of an open loopback connection, which no one can listen on while it lives, so no other process
 * can open it between our choosing it and the test's connect (a free-port probe can only guess).
 */
export async function closedPort(): Promise<{ port: number; release(): Promise<void> }> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('closedPort: no TCP address');
  const client = connect(address.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const port = client.localPort;
  if (port === undefined) throw new Error('closedPort: the held connection has no local port');
  return {
    port,
    release: async () => {
      client.destroy();
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
